// Badges a gate prints at an admission, and a coordinator's reprints. The engine decided the print
// (never, first badge only, every admission) and logged it before answering, so the page only
// sends the card to the printer, once per badge. The card is for the printer alone (hidden on
// screen by the print styles) and stays in the page until the next badge, so the print dialog
// prints it even after the verdict has gone.
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api, toUiError } from '../../api';
import type { BadgeView, UiError } from '../../bindings';
import { BadgeFace } from '../walk-in/BadgeCard';

/** Sends `badge` to the printer once (again only for a new badge); the error of its print, if any. */
export function useBadgePrint(badge: BadgeView | null): UiError | null {
  const [failed, setFailed] = useState<{ seq: number; error: UiError } | null>(null);
  const seq = badge?.seq;
  useEffect(() => {
    if (seq === undefined) return;
    api.printBadge().catch((raw) => setFailed({ seq, error: toUiError(raw) }));
  }, [seq]);
  return failed !== null && failed.seq === seq ? failed.error : null;
}

/** The badge as printed (hidden on screen). */
export function BadgePrintCard({ badge }: { badge: BadgeView }) {
  return <BadgeFace badge={badge} className="gate-badge-card" />;
}

/** The one line on screen: sent to the printer, or why it did not print. */
export function BadgePrintStatus({ error, className = 'verdict-detail' }: { error: UiError | null; className?: string }) {
  const { t } = useTranslation();
  return (
    <p className={className} role="status" data-testid="badge-print-status">
      {error ? t('verdict.printFailed', { message: error.message }) : t('verdict.printing')}
    </p>
  );
}
