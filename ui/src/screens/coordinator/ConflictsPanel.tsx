// The event's open conflicts as the server reports them (double admissions, possible duplicate
// walk-ins, conflicting edits...), each named from this kiosk's package. Online only: offline,
// the panel says so and the rest of the screen works. They are resolved in the server's admin.
import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { ConflictSubject, ConflictsView, UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { useKioskEvent } from '../../app/use-kiosk-event';
import { ErrorPanel } from '../../components/ErrorPanel';
import { formatNumber, formatTime } from '../../i18n/format';

const KINDS = [
  'double_admission',
  'admitted_while_canceled',
  'admitted_while_revoked',
  'possible_duplicate',
  'field_conflict',
  'parked_ticket',
  'unfiled_change',
];

function subjectText(subject: ConflictSubject): string {
  return [subject.name, subject.code, subject.ticket_type].filter(Boolean).join(' · ');
}

export function ConflictsPanel() {
  const { t } = useTranslation();
  const { handleError } = useKiosk();
  const [view, setView] = useState<ConflictsView | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [loading, setLoading] = useState(false);

  const load = useCallback(() => {
    setLoading(true);
    api
      .conflicts()
      .then((found) => {
        setView(found);
        setError(null);
      })
      .catch((raw) => {
        const failure = raw as UiError;
        // Offline is an expected state here, not an error to shout about.
        setError(failure.kind === 'offline' ? failure : handleError(failure));
      })
      .finally(() => setLoading(false));
  }, [handleError]);

  useEffect(load, [load]);
  // A finished sync may have sent check-ins that make (or clear) conflicts.
  useKioskEvent('synced', () => load());

  const offline = error?.kind === 'offline';
  return (
    <section className="panel panel-wide" aria-labelledby="conflicts-title" aria-busy={loading}>
      <div className="panel-head">
        <h2 id="conflicts-title">{t('coordinator.conflicts.title')}</h2>
        <button type="button" className="btn btn-secondary" onClick={load} disabled={loading}>
          {t('coordinator.conflicts.refresh')}
        </button>
      </div>
      <p className="field-help">{t('coordinator.conflicts.help')}</p>
      {offline && (
        <p className="panel-line" data-conflicts="offline">
          {t('coordinator.conflicts.offline')}
        </p>
      )}
      {error && !offline && <ErrorPanel error={error} />}
      {!error && view && view.conflicts.length === 0 && (
        <p className="panel-line" data-conflicts="none">
          {t('coordinator.conflicts.none')}
        </p>
      )}
      {!error && view && view.conflicts.length > 0 && (
        <>
          <p className="panel-line" data-conflicts="open">
            {t('coordinator.conflicts.open', { count: view.total_open, formatted: formatNumber(view.total_open) })}
          </p>
          <table className="table">
            <thead>
              <tr>
                <th scope="col">{t('coordinator.conflicts.kind')}</th>
                <th scope="col">{t('coordinator.conflicts.at')}</th>
                <th scope="col">{t('coordinator.conflicts.who')}</th>
              </tr>
            </thead>
            <tbody>
              {view.conflicts.map((conflict) => (
                <tr key={conflict.id} data-conflict-kind={conflict.kind}>
                  <td>{t(KINDS.includes(conflict.kind) ? `coordinator.conflicts.kinds.${conflict.kind}` : 'coordinator.conflicts.kinds.other', { kind: conflict.kind })}</td>
                  <td>{formatTime(conflict.at)}</td>
                  <td>
                    {conflict.subjects.length === 0
                      ? t('coordinator.conflicts.unknownSubject')
                      : conflict.subjects.map((subject, i) => <div key={i}>{subjectText(subject)}</div>)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {view.total_open > view.conflicts.length && (
            <p className="panel-line">
              {t('coordinator.conflicts.more', { shown: formatNumber(view.conflicts.length), total: formatNumber(view.total_open) })}
            </p>
          )}
        </>
      )}
    </section>
  );
}
