// The walk-in's badge: name, ticket type, event, and the QR every gate accepts (the engine's SVG,
// shown as an image), with the code small under it. Printing prints this card alone.
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, toUiError } from '../../api';
import type { BadgeView, UiError } from '../../bindings';
import { ErrorPanel } from '../../components/ErrorPanel';

export function badgeImageUrl(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

/** The badge as shown and printed; `className` adds to `badge-card` (the print styles print it). */
export function BadgeFace({ badge, className }: { badge: BadgeView; className?: string }) {
  const { t } = useTranslation();
  return (
    <article className={className ? `badge-card ${className}` : 'badge-card'} aria-label={t('badge.label')}>
      <p className="badge-event">{badge.event_name}</p>
      <h2 className="badge-name">{badge.attendee_name}</h2>
      <p className="badge-type">{badge.ticket_type}</p>
      <img className="badge-qr" src={badgeImageUrl(badge.qr_svg)} alt={t('badge.qr', { code: badge.code })} />
      <p className="badge-code">{badge.code}</p>
    </article>
  );
}

export function BadgeCard({ badge, onNext }: { badge: BadgeView; onNext(): void }) {
  const { t } = useTranslation();
  const [printError, setPrintError] = useState<UiError | null>(null);
  // The shell opens the system print dialog; the answer comes once it closes.
  const print = () => {
    setPrintError(null);
    api.printBadge().catch((raw) => setPrintError(toUiError(raw)));
  };
  return (
    <div className="badge-screen">
      <p className="success-line" role="status">
        {t('badge.done', { name: badge.attendee_name })}
      </p>
      <BadgeFace badge={badge} />
      <div className="form-nav no-print">
        <button type="button" className="btn btn-secondary btn-large" onClick={print}>
          {t('badge.print')}
        </button>
        <button type="button" className="btn btn-primary btn-large" onClick={onNext} autoFocus>
          {t('badge.next')}
        </button>
      </div>
      <div className="no-print">
        <ErrorPanel error={printError} />
      </div>
    </div>
  );
}
