import { useTranslation } from 'react-i18next';
import type { Direction, GateMode } from '../../bindings';

/** Entry or exit: a switch where the gate scans both, a plain label elsewhere. */
export function DirectionToggle({ mode, direction, busy, onChange }: { mode: GateMode; direction: Direction; busy: boolean; onChange(direction: Direction): void }) {
  const { t } = useTranslation();
  if (mode !== 'entry_and_exit') {
    return <p className={`direction-label direction-${mode === 'exit_only' ? 'exit' : 'entry'}`}>{t(`gate.mode.${mode}`)}</p>;
  }
  return (
    <div className="segmented segmented-direction" role="group" aria-label={t('gate.direction')}>
      {(['entry', 'exit'] as const).map((value) => (
        <button
          key={value}
          type="button"
          className={`btn btn-segment direction-${value}`}
          aria-pressed={direction === value}
          disabled={busy}
          onClick={() => direction !== value && onChange(value)}
        >
          {t(`gate.${value}`)}
        </button>
      ))}
    </div>
  );
}
