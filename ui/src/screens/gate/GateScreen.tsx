// The gate: the main screen. Codes come from the camera (`scan` events), a USB scanner (the
// keyboard wedge) or the code box; a guest without a badge is found by name (GuestSearch). Each
// verdict shows full screen until the next scan, a tap, or a few seconds. Counts, the sync state
// and the entry/exit switch stay in view.
import { useCallback, useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, toUiError, type TypedSource } from '../../api';
import type { BadgeView, Direction, Gate, GateCounts, ScanOutcome, UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { useKioskEvent } from '../../app/use-kiosk-event';
import { ErrorPanel } from '../../components/ErrorPanel';
import { TopBar } from '../../components/TopBar';
import { formatTime } from '../../i18n/format';
import { formFields } from '../../forms/validation';
import { CameraPanel } from './CameraPanel';
import { CodeEntry } from './CodeEntry';
import { CountsPanel } from './CountsPanel';
import { DirectionToggle } from './DirectionToggle';
import { BadgePrintCard, useBadgePrint } from './GateBadge';
import { GuestSearch, admitAction } from './GuestSearch';
import { VerdictOverlay, asksQuestions } from './VerdictOverlay';
import { playVerdictSound } from './sound';
import { useWedge } from './use-wedge';
import { UNDO_WINDOW_MS, verdictDurationMs, verdictFamily } from './verdicts';

interface Shown {
  outcome: ScanOutcome;
  id: number;
}

interface Admission {
  checkInId: string;
  name: string | null;
  at: number;
}

export function GateScreen() {
  const { t } = useTranslation();
  const { state, setState, sync, handleError } = useKiosk();
  const gate = state.gate as Gate;
  const [shown, setShown] = useState<Shown | null>(null);
  const [counts, setCounts] = useState<GateCounts | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [lastAdmission, setLastAdmission] = useState<Admission | null>(null);
  const [undoing, setUndoing] = useState(false);
  const [switching, setSwitching] = useState(false);
  const [gates, setGates] = useState<Gate[]>([]);
  const [fieldLabels, setFieldLabels] = useState<Record<string, string>>({});
  // The last badge this gate printed: kept in the page (for the printer only) after its verdict.
  const [printed, setPrinted] = useState<BadgeView | null>(null);
  const printError = useBadgePrint(printed);
  const shownCounter = useRef(0);
  const requested = useRef(0);
  const displayed = useRef(0);
  const sound = state.settings.sound;

  const refreshCounts = useCallback(() => {
    api
      .counts()
      .then(setCounts)
      .catch(() => undefined);
  }, []);

  useEffect(() => {
    refreshCounts();
    api.gates().then(setGates).catch(() => undefined);
    api
      .walkInSetup()
      .then((setup) => {
        const labels: Record<string, string> = {};
        if (setup.form) for (const field of formFields(setup.form)) labels[field.id] = field.label;
        setFieldLabels(labels);
      })
      .catch(() => undefined);
  }, [refreshCounts]);

  // Another gate's check-ins arrive with the sync: the event-wide count moves.
  useKioskEvent('sync-status', () => refreshCounts());

  const show = useCallback(
    (outcome: ScanOutcome) => {
      shownCounter.current += 1;
      setShown({ outcome, id: shownCounter.current });
      setError(null);
      setNotice(null);
      if (outcome.badge) setPrinted(outcome.badge);
      const family = verdictFamily(outcome.verdict.code, outcome.direction);
      if (sound) playVerdictSound(family);
      if (family === 'admitted' && outcome.check_in_id) {
        setLastAdmission({ checkInId: outcome.check_in_id, name: outcome.attendee_name, at: Date.now() });
      }
      refreshCounts();
    },
    [sound, refreshCounts],
  );

  // Verdicts from the camera, and camera scans the engine could not judge (no gate, locked...).
  useKioskEvent('scan', show);
  useKioskEvent('scan-error', (raw) => {
    setShown(null);
    setError(handleError(toUiError(raw)));
  });

  const scan = useCallback(
    async (code: string, source: TypedSource) => {
      requested.current += 1;
      const mine = requested.current;
      try {
        const outcome = await api.scanCode(code, source);
        // Answers may overtake each other: only a newer scan replaces what is shown.
        if (mine > displayed.current) {
          displayed.current = mine;
          show(outcome);
        }
      } catch (raw) {
        setShown(null);
        setError(handleError(raw as UiError));
      }
    },
    [show, handleError],
  );

  const dismiss = useCallback(() => setShown(null), []);

  useWedge({
    onCode: (code) => void scan(code, 'wedge'),
    // Questions being answered stay until answered or cancelled: Enter on a ticked box is not "next".
    onDismissKey: () => setShown((old) => (old && asksQuestions(old.outcome) ? old : null)),
  });

  // Back to scanning after a few seconds (restarted by each new verdict).
  useEffect(() => {
    if (!shown || asksQuestions(shown.outcome)) return;
    const family = verdictFamily(shown.outcome.verdict.code, shown.outcome.direction);
    const timer = window.setTimeout(() => setShown(null), verdictDurationMs(family));
    return () => window.clearTimeout(timer);
  }, [shown]);

  // The undo offer lapses with the engine's window.
  useEffect(() => {
    if (!lastAdmission) return;
    const left = lastAdmission.at + UNDO_WINDOW_MS - Date.now();
    const timer = window.setTimeout(() => setLastAdmission(null), Math.max(0, left));
    return () => window.clearTimeout(timer);
  }, [lastAdmission]);

  const undo = async (checkInId: string) => {
    setUndoing(true);
    try {
      setCounts(await api.annulCheckIn(checkInId));
      setShown(null);
      setLastAdmission(null);
      setNotice(t('gate.undone'));
    } catch (raw) {
      setShown(null);
      setError(handleError(raw as UiError));
    } finally {
      setUndoing(false);
    }
  };

  const changeDirection = async (direction: Direction) => {
    setSwitching(true);
    try {
      setState(await api.setDirection(direction));
      refreshCounts();
    } catch (raw) {
      setError(handleError(raw as UiError));
    } finally {
      setSwitching(false);
    }
  };

  const current = shown?.outcome;
  const canUndo =
    current !== undefined &&
    current.check_in_id !== null &&
    verdictFamily(current.verdict.code, current.direction) === 'admitted' &&
    lastAdmission?.checkInId === current.check_in_id;

  return (
    <div className="screen screen-gate">
      <TopBar title={gate.name} />
      <main className="gate-layout">
        <CameraPanel cameraId={state.settings.camera} />
        <aside className="gate-side">
          <DirectionToggle mode={gate.mode} direction={state.settings.direction} busy={switching} onChange={(d) => void changeDirection(d)} />
          <p className="gate-ready" role="status">
            {t(state.settings.direction === 'exit' ? 'gate.readyExit' : 'gate.ready')}
          </p>
          <CodeEntry onCode={(code, source) => void scan(code, source)} />
          {state.settings.show_names && (
            <GuestSearch
              action={admitAction(t, state.settings.direction, (outcome) => {
                requested.current += 1;
                displayed.current = requested.current;
                show(outcome);
              })}
              onError={(raw) => {
                setShown(null);
                setError(handleError(raw));
              }}
            />
          )}
          <ErrorPanel error={error} />
          {printError && printed && (
            <p className="note" role="alert">
              {t('gate.printFailed', { name: printed.attendee_name, message: printError.message })}
            </p>
          )}
          {notice && (
            <p className="success-line" role="status">
              {notice}
            </p>
          )}
          {/* Above the counts, so that a short window never hides it. */}
          {lastAdmission && !shown && (
            <button type="button" className="btn btn-secondary btn-block" disabled={undoing} onClick={() => void undo(lastAdmission.checkInId)}>
              {t('gate.undoLast', {
                who: lastAdmission.name ?? t('gate.lastPerson'),
                time: formatTime(lastAdmission.at),
              })}
            </button>
          )}
          <CountsPanel counts={counts} mode={gate.mode} lastSyncAt={sync?.last_sync_at ?? null} />
          {sync && !sync.online && <p className="note note-offline">{t('gate.offlineNote')}</p>}
        </aside>
      </main>
      {current && shown && (
        <VerdictOverlay
          outcome={current}
          shownId={shown.id}
          gates={gates}
          fieldLabels={fieldLabels}
          timeZone={state.event?.time_zone}
          onDismiss={dismiss}
          onUndo={canUndo && current.check_in_id ? () => void undo(current.check_in_id as string) : undefined}
          undoing={undoing}
          printError={current.badge && printed && current.badge.seq === printed.seq ? printError : null}
          questions={{
            onOutcome: (outcome) => {
              requested.current += 1;
              displayed.current = requested.current;
              show(outcome);
            },
            onError: (raw) => {
              setShown(null);
              setError(handleError(raw));
            },
          }}
        />
      )}
      {printed && <BadgePrintCard badge={printed} />}
    </div>
  );
}
