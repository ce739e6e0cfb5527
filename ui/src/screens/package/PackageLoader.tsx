// Getting an event package: fetched from the server, or imported from a file (a USB stick at a
// venue with no network; the shell checks it against the server key pinned at enrolment).
import { useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { PackageApplied, UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { ErrorPanel } from '../../components/ErrorPanel';
import { Spinner } from '../../components/Spinner';
import { formatNumber } from '../../i18n/format';

type Busy = null | 'fetch' | 'import';

export function PackageLoader({ onApplied }: { onApplied(applied: PackageApplied): void }) {
  const { t } = useTranslation();
  const { handleError } = useKiosk();
  const [busy, setBusy] = useState<Busy>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [applied, setApplied] = useState<PackageApplied | null>(null);
  const file = useRef<HTMLInputElement>(null);

  const run = async (what: Exclude<Busy, null>, action: () => Promise<PackageApplied>) => {
    setBusy(what);
    setError(null);
    try {
      const result = await action();
      setApplied(result);
      onApplied(result);
    } catch (raw) {
      setError(handleError(raw as UiError));
    } finally {
      setBusy(null);
    }
  };

  const importFile = (picked: File | undefined) => {
    if (!picked) return;
    void run('import', async () => api.importPackage(new Uint8Array(await picked.arrayBuffer())));
    if (file.current) file.current.value = '';
  };

  return (
    <div className="package-loader">
      <div className="choice-row">
        <button type="button" className="btn btn-primary btn-large" disabled={busy !== null} onClick={() => void run('fetch', api.fetchPackage)}>
          {t('package.fetch')}
        </button>
        <label className={`btn btn-secondary btn-large file-button${busy ? ' is-disabled' : ''}`}>
          {t('package.import')}
          <input
            ref={file}
            type="file"
            className="sr-only"
            accept=".gatepass,.pkg,.bin,application/octet-stream"
            disabled={busy !== null}
            onChange={(event) => importFile(event.target.files?.[0])}
          />
        </label>
      </div>
      <p className="field-help">{t('package.importHelp')}</p>
      {busy && (
        <div className="progress-block">
          <Spinner label={busy === 'fetch' ? t('package.fetching') : t('package.importing')} />
          <progress className="progress" aria-label={t('package.progress')} />
        </div>
      )}
      <ErrorPanel error={error} />
      {applied && !busy && (
        <p className="success-line" role="status">
          {t('package.applied', { version: applied.version, tickets: formatNumber(applied.tickets) })}
        </p>
      )}
    </div>
  );
}
