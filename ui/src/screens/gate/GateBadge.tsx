// The badge a gate that prints badges prints at an admission. The engine decided it (never, first
// badge only, every admission) and logged the print before answering, so this only sends the card
// to the printer once, when it appears; a failed print is said on the verdict, and a coordinator
// reprints it. On screen it is one line: the card itself is for the printer (print styles).
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, toUiError } from '../../api';
import type { BadgeView, UiError } from '../../bindings';
import { badgeImageUrl } from '../walk-in/BadgeCard';

/** `statusClass` styles the one line on screen (the verdict's big type by default). */
export function GateBadge({ badge, statusClass = 'verdict-detail' }: { badge: BadgeView; statusClass?: string }) {
  const { t } = useTranslation();
  const [error, setError] = useState<UiError | null>(null);
  useEffect(() => {
    setError(null);
    api.printBadge().catch((raw) => setError(toUiError(raw)));
  }, [badge.seq]);
  return (
    <div className="gate-badge">
      <p className={statusClass} role="status" data-testid="gate-badge-status">
        {error ? t('verdict.printFailed', { message: error.message }) : t('verdict.printing')}
      </p>
      <article className="badge-card gate-badge-card" aria-label={t('badge.label')}>
        <p className="badge-event">{badge.event_name}</p>
        <h2 className="badge-name">{badge.attendee_name}</h2>
        <p className="badge-type">{badge.ticket_type}</p>
        <img className="badge-qr" src={badgeImageUrl(badge.qr_svg)} alt={t('badge.qr', { code: badge.code })} />
        <p className="badge-code">{badge.code}</p>
      </article>
    </div>
  );
}
