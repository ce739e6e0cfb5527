// The verdict, full screen: colour, icon, big words, the reason, the attendee's name and ticket
// type. It never takes the focus and never blocks the next scan: a new scan replaces it, a tap or
// Enter dismisses it, and it goes by itself after a few seconds. "Answers needed" with questions
// the kiosk can ask is the exception: it shows them (GateQuestions) and stays until answered or
// cancelled.
import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import type { Gate, JsonValue, ScanOutcome, ShownAnswer, UiError, Verdict } from '../../bindings';
import { AlertIcon, CheckIcon, ExitIcon, StopIcon } from '../../components/icons';
import { formatTime } from '../../i18n/format';
import { languageOf } from '../../i18n';
import { BadgePrintStatus } from './GateBadge';
import { GateQuestions } from './GateQuestions';
import { verdictDurationMs, verdictFamily, type VerdictFamily } from './verdicts';

interface VerdictOverlayProps {
  outcome: ScanOutcome;
  /** Changes with every verdict shown (restarts the countdown bar). */
  shownId: number;
  gates: Gate[];
  /** Labels of the form's fields, for "answers needed". */
  fieldLabels: Record<string, string>;
  timeZone?: string;
  onDismiss(): void;
  /** Shown while the verdict is an admission this kiosk may still annul. */
  onUndo?: () => void;
  undoing?: boolean;
  /** Why this verdict's badge did not print (the badge itself is printed by the gate screen). */
  printError?: UiError | null;
  /** Given when the questions of a `needs_answers` verdict are asked here. */
  questions?: {
    onOutcome(outcome: ScanOutcome): void;
    onError(error: UiError): void;
  };
}

/** Whether this outcome's questions can be asked at the gate (a known ticket, questions known). */
export function asksQuestions(outcome: ScanOutcome): boolean {
  return outcome.verdict.code === 'needs_answers' && outcome.questions.length > 0 && outcome.ticket_id !== null;
}

const ICONS: Record<VerdictFamily, typeof CheckIcon> = {
  admitted: CheckIcon,
  exit: ExitIcon,
  attention: AlertIcon,
  refused: StopIcon,
};

export function VerdictOverlay({ outcome, shownId, gates, fieldLabels, timeZone, onDismiss, onUndo, undoing, printError = null, questions }: VerdictOverlayProps) {
  const { t, i18n } = useTranslation();
  const { verdict } = outcome;
  const family = verdictFamily(verdict.code, outcome.direction);
  const Icon = ICONS[family];
  const title = family === 'exit' ? t('verdict.title.exit') : t(`verdict.title.${verdict.code}`);
  const english = languageOf(i18n.language) === 'en';
  const asking = questions !== undefined && asksQuestions(outcome);
  const { reason, showFirst } = asking
    ? { reason: t('questions.intro'), showFirst: false }
    : reasonLine(t, family, verdict, english);
  const first = showFirst ? verdict.first_admission : undefined;
  const firstGate = first ? gates.find((gate) => gate.id === first.gate_id)?.name : undefined;

  return (
    <div
      className={`verdict verdict-${family}`}
      role="alert"
      aria-live="assertive"
      data-verdict={verdict.code}
      onClick={asking ? undefined : onDismiss}
    >
      <div className="verdict-body">
        <Icon className="verdict-icon" />
        <p className="verdict-title">{title}</p>
        {family !== 'admitted' && family !== 'exit' && <p className="verdict-action">{t('verdict.doNotAdmit')}</p>}
        {outcome.attendee_name && <p className="verdict-name">{outcome.attendee_name}</p>}
        {outcome.ticket_type && <p className="verdict-ticket">{outcome.ticket_type}</p>}
        {outcome.answers.length > 0 && (
          <dl className="verdict-answers">
            {outcome.answers.map((answer) => (
              <div key={answer.field.id}>
                <dt>{answer.field.label}</dt>
                <dd>{answerText(t, answer)}</dd>
              </div>
            ))}
          </dl>
        )}
        {reason && <p className="verdict-reason">{reason}</p>}
        {first && (
          <p className="verdict-detail">
            {firstGate
              ? t('verdict.firstAdmissionAt', { time: formatTime(first.at, timeZone), gate: firstGate })
              : t('verdict.firstAdmission', { time: formatTime(first.at, timeZone) })}
          </p>
        )}
        {!asking && verdict.missing_answers && verdict.missing_answers.length > 0 && (
          <p className="verdict-detail">
            {t('verdict.missing', {
              fields: verdict.missing_answers.map((id) => fieldLabels[id] ?? id).join(', '),
            })}
          </p>
        )}
        {outcome.badge && !asking && <BadgePrintStatus error={printError} />}
        {onUndo && (
          <button
            type="button"
            className="btn btn-undo"
            disabled={undoing}
            onClick={(event) => {
              event.stopPropagation();
              onUndo();
            }}
          >
            {undoing ? t('common.working') : t('verdict.undo')}
          </button>
        )}
        {asking && questions ? (
          <GateQuestions outcome={outcome} onOutcome={questions.onOutcome} onError={questions.onError} onCancel={onDismiss} />
        ) : (
          <p className="verdict-hint">{t('verdict.dismiss')}</p>
        )}
      </div>
      {!asking && (
        <div
          key={shownId}
          className="verdict-countdown"
          data-duration={verdictDurationMs(family)}
          aria-hidden="true"
        />
      )}
    </div>
  );
}

/** An answer as the volunteer reads it: choice labels, yes or no for a box. */
function answerText(t: TFunction, { field, value }: ShownAnswer): string {
  const label = (id: JsonValue) => field.choices?.find((choice) => choice.id === id)?.label ?? String(id);
  if (typeof value === 'boolean') return t(value ? 'verdict.yes' : 'verdict.no');
  if (Array.isArray(value)) return value.map(label).join(', ');
  if (field.kind === 'single_choice') return label(value);
  return value === null ? '' : String(value);
}

/**
 * The sentence under the title. The engine's English sentence is the most precise (it names the
 * gate and the time, the validity window...), so English screens show it; other languages show
 * a translated sentence per code, plus the first admission's time and gate for "already used".
 * An admission needs no sentence; "answers needed" lists the questions by their labels instead
 * of the engine's field ids.
 */
function reasonLine(t: TFunction, family: VerdictFamily, verdict: Verdict, english: boolean): { reason: string | null; showFirst: boolean } {
  if (family === 'admitted' || family === 'exit') return { reason: null, showFirst: false };
  if (verdict.code === 'needs_answers') return { reason: t('verdict.reason.needs_answers'), showFirst: false };
  if (english && verdict.reason) return { reason: verdict.reason, showFirst: false };
  return { reason: t(`verdict.reason.${verdict.code}`), showFirst: true };
}
