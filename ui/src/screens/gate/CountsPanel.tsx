import { useTranslation } from 'react-i18next';
import type { GateCounts, GateMode } from '../../bindings';
import { formatNumber } from '../../i18n/format';

/** Admissions at this gate and across the event. */
export function CountsPanel({ counts, mode }: { counts: GateCounts | null; mode: GateMode }) {
  const { t } = useTranslation();
  const value = (n: number | undefined) => (n === undefined ? '–' : formatNumber(n));
  return (
    <section className="counts" aria-label={t('counts.label')}>
      <div className="count">
        <span className="count-value" data-count="gate-entries">{value(counts?.gate_entries)}</span>
        <span className="count-label">{t('counts.gateEntries')}</span>
      </div>
      {mode !== 'entry_only' && (
        <div className="count">
          <span className="count-value" data-count="gate-exits">{value(counts?.gate_exits)}</span>
          <span className="count-label">{t('counts.gateExits')}</span>
        </div>
      )}
      <div className="count">
        <span className="count-value" data-count="event-admitted">
          {value(counts?.event_admitted)}
        </span>
        <span className="count-label">{t('counts.eventAdmitted')}</span>
        <span className="count-of">{t('counts.ofTickets', { total: value(counts?.tickets) })}</span>
      </div>
    </section>
  );
}
