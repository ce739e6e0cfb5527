// The lock screen: the kiosk PIN opens the encrypted store. Whatever was typed on the other
// screens before the lock (a walk-in half filled in) is still there after it.
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { ErrorPanel } from '../../components/ErrorPanel';
import { PinEntry } from '../../components/PinEntry';

export function UnlockScreen() {
  const { t } = useTranslation();
  const { state, setState, handleError } = useKiosk();
  const [pin, setPin] = useState('');
  const [wrong, setWrong] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      setState(await api.unlock(pin));
    } catch (raw) {
      const failure = handleError(raw as UiError);
      setPin('');
      if (failure.kind === 'wrong_pin' || failure.kind === 'bad_pin') setWrong(true);
      else setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="screen screen-center">
      <div className="card card-narrow">
        <h1>{t('unlock.title')}</h1>
        {state.event && <p className="lead">{state.event.name}</p>}
        <PinEntry
          label={t('unlock.pin')}
          value={pin}
          onValue={(value) => {
            setPin(value);
            setWrong(false);
          }}
          onSubmit={() => void submit()}
          submitLabel={t('unlock.submit')}
          error={wrong ? t('unlock.wrongPin') : null}
          busy={busy}
          autoFocus
        />
        <ErrorPanel error={error} />
      </div>
    </main>
  );
}
