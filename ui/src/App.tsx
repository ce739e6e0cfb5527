// The app: reads the kiosk's state, routes by phase (setup, locked, enrol, package, ready) and,
// when ready, between the gate and the other screens. It also applies the settings that change
// the whole page (language, contrast) and follows the background sync's status.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { AppState, UiError } from './bindings';
import { api, toUiError, type SyncStatus } from './api';
import { KioskContext, type KioskContextValue, type ReadyScreen } from './app/kiosk-context';
import { useKioskEvent } from './app/use-kiosk-event';
import { applyLanguage } from './i18n';
import { ErrorPanel } from './components/ErrorPanel';
import { Spinner } from './components/Spinner';
import { SetupScreen } from './screens/setup/SetupScreen';
import { UnlockScreen } from './screens/unlock/UnlockScreen';
import { EnrolScreen } from './screens/enrol/EnrolScreen';
import { PackageScreen } from './screens/package/PackageScreen';
import { GatePickerScreen } from './screens/gate-picker/GatePickerScreen';
import { GateScreen } from './screens/gate/GateScreen';
import { WalkInScreen } from './screens/walk-in/WalkInScreen';
import { CoordinatorScreen } from './screens/coordinator/CoordinatorScreen';
import { SettingsScreen } from './screens/settings/SettingsScreen';

export function App() {
  const { t } = useTranslation();
  const [state, setStateRaw] = useState<AppState | null>(null);
  const [startError, setStartError] = useState<UiError | null>(null);
  const [sync, setSync] = useState<SyncStatus | null>(null);
  const [screen, setScreen] = useState<ReadyScreen>('gate');
  const drafts = useRef(new Map<string, unknown>()).current;

  const load = useCallback(async () => {
    try {
      setStateRaw(await api.appState());
      setStartError(null);
    } catch (error) {
      setStartError(toUiError(error));
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  // Settings that change the whole page.
  const language = state?.settings.language ?? 'en';
  const highContrast = state?.settings.high_contrast ?? false;
  useEffect(() => applyLanguage(language), [language]);
  useEffect(() => {
    document.documentElement.classList.toggle('high-contrast', highContrast);
  }, [highContrast]);

  // The background sync: its status at start, then every change.
  const phase = state?.phase;
  useEffect(() => {
    if (phase !== 'ready') return;
    let current = true;
    api
      .syncStatus()
      .then((status) => current && setSync(status))
      .catch(() => undefined);
    return () => {
      current = false;
    };
  }, [phase]);
  useKioskEvent('sync-status', setSync);
  // A package applied in the background while the kiosk works (a newer one, or one fetched again
  // on the server's request) changes the event, its gates and the version shown: read the state
  // again. During first run the package screen says itself when the package is in.
  useKioskEvent('package-applied', () => {
    if (phase === 'ready') void load();
  });

  const handleError = useCallback(
    (error: UiError) => {
      // The store closed under us (or was never made): read the phase again, which shows the
      // lock screen; the screens' drafts stay in `drafts`.
      if (error.kind === 'locked' || error.kind === 'not_set_up') void load();
      return error;
    },
    [load],
  );

  const context = useMemo<KioskContextValue | null>(() => {
    if (!state) return null;
    return { state, setState: setStateRaw, refresh: load, sync, screen, go: setScreen, handleError, drafts };
  }, [state, load, sync, screen, handleError, drafts]);

  if (!context) {
    return (
      <main className="screen screen-center" aria-busy={!startError}>
        {startError ? (
          <div className="card card-narrow">
            <h1>{t('app.startFailed')}</h1>
            <ErrorPanel error={startError} />
            <button type="button" className="btn btn-primary" onClick={() => void load()}>
              {t('common.retry')}
            </button>
          </div>
        ) : (
          <Spinner label={t('app.starting')} />
        )}
      </main>
    );
  }

  return (
    <KioskContext.Provider value={context}>
      <Routed state={context.state} screen={screen} />
    </KioskContext.Provider>
  );
}

function Routed({ state, screen }: { state: AppState; screen: ReadyScreen }) {
  switch (state.phase) {
    case 'setup':
      return <SetupScreen />;
    case 'locked':
      return <UnlockScreen />;
    case 'enrol':
      return <EnrolScreen />;
    case 'package':
      return <PackageScreen />;
    case 'ready':
      break;
  }
  const shown: ReadyScreen = !state.gate && screen === 'gate' ? 'gate-picker' : screen;
  switch (shown) {
    case 'gate-picker':
      return <GatePickerScreen />;
    case 'walk-in':
      return <WalkInScreen />;
    case 'coordinator':
      return <CoordinatorScreen />;
    case 'settings':
      return <SettingsScreen />;
    case 'gate':
      return <GateScreen />;
  }
}
