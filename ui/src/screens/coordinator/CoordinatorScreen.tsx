// The coordinator's screen, behind the coordinator PIN each time it is opened: sync, what this
// kiosk still holds, parked rejections, the package, locking and kiosk mode.
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { ErrorPanel } from '../../components/ErrorPanel';
import { PinEntry } from '../../components/PinEntry';
import { TopBar } from '../../components/TopBar';
import { CoordinatorPanel } from './CoordinatorPanel';

export function CoordinatorScreen() {
  const { t } = useTranslation();
  const { handleError } = useKiosk();
  // The PIN stays in this screen's memory only, for leaving kiosk mode; gone when it closes.
  const [pin, setPin] = useState('');
  const [granted, setGranted] = useState<string | null>(null);
  const [wrong, setWrong] = useState(false);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  const check = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.checkCoordinatorPin(pin);
      setGranted(pin);
    } catch (raw) {
      const failure = handleError(raw as UiError);
      if (failure.kind === 'wrong_pin' || failure.kind === 'bad_pin') setWrong(true);
      else setError(failure);
    } finally {
      setPin('');
      setBusy(false);
    }
  };

  return (
    <div className="screen">
      <TopBar title={t('coordinator.title')} />
      {granted === null ? (
        <main className="content content-narrow">
          <div className="card card-narrow">
            <h2>{t('coordinator.pinTitle')}</h2>
            <p className="lead">{t('coordinator.pinIntro')}</p>
            <PinEntry
              id="coordinator-pin"
              label={t('coordinator.pin')}
              value={pin}
              onValue={(value) => {
                setPin(value);
                setWrong(false);
              }}
              onSubmit={() => void check()}
              submitLabel={t('coordinator.open')}
              error={wrong ? t('coordinator.wrongPin') : null}
              busy={busy}
              autoFocus
            />
            <ErrorPanel error={error} />
          </div>
        </main>
      ) : (
        <CoordinatorPanel pin={granted} />
      )}
    </div>
  );
}
