import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { OutboxView, SyncReport, UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { useKioskEvent } from '../../app/use-kiosk-event';
import { ErrorPanel } from '../../components/ErrorPanel';
import { formatDuration, formatNumber, formatTime } from '../../i18n/format';
import { PackageLoader } from '../package/PackageLoader';
import { ConflictsPanel } from './ConflictsPanel';
import { ReprintPanel } from './ReprintPanel';
import { SyncPanel } from './SyncPanel';

export function CoordinatorPanel({ pin }: { pin: string }) {
  const { t } = useTranslation();
  const { state, setState, sync, refresh, handleError } = useKiosk();
  const [outbox, setOutbox] = useState<OutboxView | null>(null);
  const [report, setReport] = useState<SyncReport | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  const loadOutbox = useCallback(() => {
    api
      .outbox()
      .then(setOutbox)
      .catch((raw) => setError(handleError(raw as UiError)));
  }, [handleError]);

  useEffect(loadOutbox, [loadOutbox]);
  useKioskEvent('sync-status', () => loadOutbox());

  const act = async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (raw) {
      setError(handleError(raw as UiError));
    } finally {
      setBusy(false);
    }
  };

  const clockAhead = report?.clock_ahead_ms ?? sync?.clock_ahead_ms ?? null;
  const held = state.package_version;
  const newest = Math.max(sync?.server_package_version ?? 0, report?.package_version ?? 0) || null;
  const newer = newest !== null && (held === null || newest > held);
  const counts = outbox ?? sync;

  return (
    <main className="content coordinator">
      <ErrorPanel error={error} />
      {sync?.revoked && <ErrorPanel error={{ kind: 'revoked', message: '', field: null, fields: [] }} />}
      {clockAhead !== null && clockAhead > 0 && (
        <div className="warning" role="alert">
          <p className="warning-title">{t('coordinator.clock.title')}</p>
          <p>{t('coordinator.clock.ahead', { duration: formatDuration(clockAhead) })}</p>
        </div>
      )}
      <div className="panels">
        <SyncPanel
          onSynced={(done) => {
            setReport(done);
            loadOutbox();
          }}
        />

        <section className="panel" aria-labelledby="outbox-title">
          <h2 id="outbox-title">{t('coordinator.outbox.title')}</h2>
          <dl className="facts facts-big">
            <dt>{t('coordinator.outbox.pending')}</dt>
            <dd data-count="pending">{counts ? formatNumber(counts.pending) : '–'}</dd>
            <dt>{t('coordinator.outbox.acknowledged')}</dt>
            <dd data-count="acknowledged">{counts ? formatNumber(counts.acknowledged) : '–'}</dd>
            <dt>{t('coordinator.outbox.parked')}</dt>
            <dd data-count="parked">{counts ? formatNumber(counts.parked) : '–'}</dd>
          </dl>
          <dl className="facts">
            <dt>{t('coordinator.status.lastSync')}</dt>
            <dd>{sync?.last_sync_at ? formatTime(sync.last_sync_at) : t('coordinator.status.never')}</dd>
            <dt>{t('coordinator.status.lastAttempt')}</dt>
            <dd>{sync?.last_attempt_at ? formatTime(sync.last_attempt_at) : t('coordinator.status.never')}</dd>
            {sync?.last_error && (
              <>
                <dt>{t('coordinator.status.lastError')}</dt>
                <dd className="text-error">{sync.last_error}</dd>
              </>
            )}
          </dl>
        </section>

        <section className="panel" aria-labelledby="package-title">
          <h2 id="package-title">{t('coordinator.package.title')}</h2>
          <p className="panel-line">
            {held !== null ? t('coordinator.package.held', { version: held }) : t('coordinator.package.none')}
          </p>
          {newer && (
            <div className="notice" role="status">
              <p className="notice-title">{t('coordinator.package.newer', { version: newest })}</p>
            </div>
          )}
          <PackageLoader onApplied={() => void refresh()} />
        </section>

        <section className="panel" aria-labelledby="kiosk-title">
          <h2 id="kiosk-title">{t('coordinator.kiosk.title')}</h2>
          {state.device && (
            <dl className="facts">
              <dt>{t('coordinator.kiosk.server')}</dt>
              <dd className="text-wrap">{state.device.server_url}</dd>
              <dt>{t('coordinator.kiosk.device')}</dt>
              <dd className="text-wrap text-small">{state.device.device_id}</dd>
            </dl>
          )}
          <p className="panel-line">{t(state.kiosk_mode ? 'coordinator.kiosk.modeOn' : 'coordinator.kiosk.modeOff')}</p>
          <div className="button-row">
            <button
              type="button"
              className="btn btn-secondary btn-large"
              disabled={busy}
              onClick={() => void act(async () => setState(await api.setKioskMode(!state.kiosk_mode, state.kiosk_mode ? pin : undefined)))}
            >
              {t(state.kiosk_mode ? 'coordinator.kiosk.leave' : 'coordinator.kiosk.enter')}
            </button>
            <button type="button" className="btn btn-danger btn-large" disabled={busy} onClick={() => void act(async () => setState(await api.lock()))}>
              {t('coordinator.kiosk.lock')}
            </button>
          </div>
        </section>

        <ReprintPanel />

        <section className="panel panel-wide" aria-labelledby="parked-title">
          <h2 id="parked-title">{t('coordinator.parked.title')}</h2>
          <p className="field-help">{t('coordinator.parked.help')}</p>
          {outbox && outbox.parked_changes.length === 0 && <p className="panel-line">{t('coordinator.parked.none')}</p>}
          {outbox && outbox.parked_changes.length > 0 && (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">{t('coordinator.parked.seq')}</th>
                  <th scope="col">{t('coordinator.parked.kind')}</th>
                  <th scope="col">{t('coordinator.parked.code')}</th>
                  <th scope="col">{t('coordinator.parked.message')}</th>
                  <th scope="col">{t('coordinator.parked.actions')}</th>
                </tr>
              </thead>
              <tbody>
                {outbox.parked_changes.map((change) => (
                  <tr key={change.seq}>
                    <td>{change.seq}</td>
                    <td>{change.kind}</td>
                    <td>
                      <code>{change.code}</code>
                    </td>
                    <td>{change.message}</td>
                    <td className="row-actions">
                      <button
                        type="button"
                        className="btn btn-secondary"
                        disabled={busy}
                        onClick={() => void act(() => api.retryParked(change.seq).then(setOutbox))}
                      >
                        {t('coordinator.parked.retry')}
                      </button>
                      <button
                        type="button"
                        className="btn btn-secondary"
                        disabled={busy}
                        onClick={() => void act(() => api.dismissParked(change.seq).then(setOutbox))}
                      >
                        {t('coordinator.parked.dismiss')}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {outbox && outbox.dismissed > 0 && (
            <p className="panel-line">{t('coordinator.parked.dismissed', { count: outbox.dismissed })}</p>
          )}
        </section>

        <ConflictsPanel />
      </div>
    </main>
  );
}
