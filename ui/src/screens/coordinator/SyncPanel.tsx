// "Sync now": push, then pull, with a progress bar fed by the engine, and what it did.
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { SyncProgress, SyncReport, UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { ErrorPanel } from '../../components/ErrorPanel';
import { formatNumber } from '../../i18n/format';

export function SyncPanel({ onSynced }: { onSynced(report: SyncReport): void }) {
  const { t } = useTranslation();
  const { sync, handleError } = useKiosk();
  const [progress, setProgress] = useState<SyncProgress | null>(null);
  const [running, setRunning] = useState(false);
  const [report, setReport] = useState<SyncReport | null>(null);
  const [error, setError] = useState<UiError | null>(null);

  const run = async () => {
    setRunning(true);
    setError(null);
    setReport(null);
    setProgress(null);
    try {
      const done = await api.syncNow(setProgress);
      setReport(done);
      onSynced(done);
    } catch (raw) {
      setError(handleError(raw as UiError));
    } finally {
      setRunning(false);
      setProgress(null);
    }
  };

  const label =
    progress?.phase === 'pushing'
      ? t('coordinator.sync.pushing', { sent: formatNumber(progress.sent), total: formatNumber(progress.total) })
      : progress?.phase === 'pulling'
        ? t('coordinator.sync.pulling', { received: formatNumber(progress.received) })
        : t('coordinator.sync.starting');

  return (
    <section className="panel" aria-labelledby="sync-title">
      <h2 id="sync-title">{t('coordinator.sync.title')}</h2>
      <p className="panel-line">
        <span className={`dot dot-${sync?.online ? 'on' : 'off'}`} aria-hidden="true" />
        {sync ? t(sync.online ? 'coordinator.sync.online' : 'coordinator.sync.offline') : t('coordinator.sync.unknown')}
        {sync?.live && <span className="tag">{t('coordinator.sync.live')}</span>}
      </p>
      <button type="button" className="btn btn-primary btn-large" onClick={() => void run()} disabled={running}>
        {running ? t('coordinator.sync.running') : t('coordinator.sync.now')}
      </button>
      {running && (
        <div className="progress-block" role="status">
          <p>{label}</p>
          {progress?.phase === 'pushing' && progress.total > 0 ? (
            <progress className="progress" value={progress.sent} max={progress.total} aria-label={label} />
          ) : (
            <progress className="progress" aria-label={label} />
          )}
        </div>
      )}
      <ErrorPanel error={error} />
      {report && (
        <div className="report" role="status">
          <p className="success-line">{t('coordinator.sync.done')}</p>
          <dl className="facts">
            <dt>{t('coordinator.sync.pushed')}</dt>
            <dd>{formatNumber(report.pushed)}</dd>
            <dt>{t('coordinator.sync.pulled')}</dt>
            <dd>{formatNumber(report.pulled)}</dd>
            <dt>{t('coordinator.sync.parked')}</dt>
            <dd>{formatNumber(report.parked)}</dd>
            <dt>{t('coordinator.sync.pendingAfter')}</dt>
            <dd>{formatNumber(report.pending_after)}</dd>
          </dl>
        </div>
      )}
    </section>
  );
}
