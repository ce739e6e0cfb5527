import { useTranslation } from 'react-i18next';
import { useKiosk } from '../app/kiosk-context';
import { formatNumber } from '../i18n/format';
import { CloudIcon, CloudOffIcon } from './icons';

/** Online or offline, and how many changes wait to reach the server. */
export function SyncIndicator() {
  const { t } = useTranslation();
  const { sync } = useKiosk();
  if (!sync) return null;
  const state = sync.revoked ? 'revoked' : sync.online ? 'online' : 'offline';
  const waiting =
    sync.pending === 0
      ? t('sync.allSent')
      : t('sync.waiting', { number: formatNumber(sync.pending) });
  return (
    <div className={`sync-indicator sync-${state}`} role="status" aria-live="polite">
      {state === 'online' ? <CloudIcon className="icon" /> : <CloudOffIcon className="icon" />}
      <span className="sync-state">{t(`sync.state.${state}`)}</span>
      <span className="sync-waiting">{sync.syncing ? t('sync.syncing') : waiting}</span>
    </div>
  );
}
