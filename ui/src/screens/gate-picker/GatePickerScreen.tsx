// Picking the gate this kiosk scans at: once, then remembered in the settings.
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { Gate, UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { ErrorPanel } from '../../components/ErrorPanel';
import { Spinner } from '../../components/Spinner';
import { TopBar } from '../../components/TopBar';

export function GatePickerScreen() {
  const { t } = useTranslation();
  const { state, setState, go, handleError } = useKiosk();
  const [gates, setGates] = useState<Gate[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [picking, setPicking] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    api
      .gates()
      .then((list) => current && setGates(list))
      .catch((raw) => current && setError(handleError(raw as UiError)));
    return () => {
      current = false;
    };
  }, [handleError]);

  const pick = async (gate: Gate) => {
    setPicking(gate.id);
    setError(null);
    try {
      setState(await api.selectGate(gate.id));
      go('gate');
    } catch (raw) {
      setError(handleError(raw as UiError));
    } finally {
      setPicking(null);
    }
  };

  return (
    <div className="screen">
      <TopBar title={t('gatePicker.title')} />
      <main className="content content-narrow">
        <p className="lead">{t('gatePicker.intro')}</p>
        <ErrorPanel error={error} />
        {gates === null && !error && <Spinner label={t('common.loading')} />}
        {gates?.length === 0 && <p className="note">{t('gatePicker.none')}</p>}
        <ul className="gate-list">
          {gates?.map((gate) => (
            <li key={gate.id}>
              <button
                type="button"
                className={`gate-choice${state.gate?.id === gate.id ? ' gate-choice-current' : ''}`}
                disabled={picking !== null}
                aria-current={state.gate?.id === gate.id ? 'true' : undefined}
                onClick={() => void pick(gate)}
              >
                <span className="gate-choice-name">{gate.name}</span>
                <span className="gate-choice-mode">{t(`gate.mode.${gate.mode}`)}</span>
              </button>
            </li>
          ))}
        </ul>
      </main>
    </div>
  );
}
