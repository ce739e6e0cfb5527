import { useTranslation } from 'react-i18next';
import type { GateCounts, GateMode, UnixMillis } from '../../bindings';
import { formatNumber, formatTime } from '../../i18n/format';

interface Props {
  counts: GateCounts | null;
  mode: GateMode;
  /** When this kiosk last synced: other kiosks' scans are counted as of then. */
  lastSyncAt: UnixMillis | null;
}

/**
 * Admissions at this gate and across the event, today (the venue's day, midnight to midnight in
 * the event's time zone) and on all days. This kiosk's own scans count at once; other kiosks' only
 * as of the last sync, and the panel says so, so that nobody takes one for the other.
 */
export function CountsPanel({ counts, mode, lastSyncAt }: Props) {
  const { t } = useTranslation();
  const value = (n: number | undefined) => (n === undefined ? '–' : formatNumber(n));
  // On the first day the totals are today's: the "on all days" line would repeat the count.
  const earlierDays = counts !== null && counts.gate_entries !== counts.gate_entries_today;
  return (
    <section className="counts-block" aria-label={t('counts.label')}>
      <div className="counts">
        <div className="count">
          <span className="count-value" data-count="gate-entries">{value(counts?.gate_entries_today)}</span>
          <span className="count-label">{t('counts.gateEntries')}</span>
          <span className="count-of" data-count="own-gate-entries">
            {t('counts.ownEntries', { own: value(counts?.own_gate_entries_today) })}
          </span>
          {earlierDays && (
            <span className="count-of" data-count="gate-entries-all-days">
              {t('counts.allDays', { n: value(counts?.gate_entries) })}
            </span>
          )}
        </div>
        {mode !== 'entry_only' && (
          <div className="count">
            <span className="count-value" data-count="gate-exits">{value(counts?.gate_exits_today)}</span>
            <span className="count-label">{t('counts.gateExits')}</span>
          </div>
        )}
        <div className="count">
          <span className="count-value" data-count="event-inside">{value(counts?.inside)}</span>
          <span className="count-label">{t('counts.inside')}</span>
        </div>
        <div className="count">
          <span className="count-value" data-count="event-admitted">
            {value(counts?.event_admitted_today)}
          </span>
          <span className="count-label">{t('counts.eventAdmitted')}</span>
          <span className="count-of" data-count="event-admitted-all-days">
            {t('counts.ofTickets', { admitted: value(counts?.event_admitted), total: value(counts?.tickets) })}
          </span>
        </div>
      </div>
      <p className="count-note" data-count="as-of">
        {lastSyncAt === null ? t('counts.notSynced') : t('counts.asOf', { time: formatTime(lastSyncAt) })}
      </p>
    </section>
  );
}
