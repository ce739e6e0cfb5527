// A coordinator prints a guest's badge again (the first print jammed, the badge was lost): find
// the guest, "Reprint". The engine logs it as a reprint (it syncs, and the server's badge print
// export shows it), then the badge goes to the printer as at the gate.
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { BadgeView, UiError } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { ErrorPanel } from '../../components/ErrorPanel';
import { BadgePrintCard, BadgePrintStatus, useBadgePrint } from '../gate/GateBadge';
import { GuestSearch, type GuestAction } from '../gate/GuestSearch';

export function ReprintPanel() {
  const { t } = useTranslation();
  const { state, handleError } = useKiosk();
  const [badge, setBadge] = useState<BadgeView | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const printError = useBadgePrint(badge);
  const reprint: GuestAction = {
    label: t('coordinator.reprint.action'),
    name: (who) => t('coordinator.reprint.actionWho', { who }),
    run: async (hit) => {
      setError(null);
      setBadge(await api.reprintBadge(hit.ticket_id));
    },
  };
  return (
    <section className="panel" aria-labelledby="reprint-title">
      <h2 id="reprint-title">{t('coordinator.reprint.title')}</h2>
      <p className="field-help">{t('coordinator.reprint.help')}</p>
      {state.settings.show_names ? (
        <GuestSearch
          id="reprint-search"
          label={t('coordinator.reprint.search')}
          action={reprint}
          onError={(raw) => {
            setBadge(null);
            setError(handleError(raw));
          }}
        />
      ) : (
        <p className="panel-line">{t('coordinator.reprint.namesHidden')}</p>
      )}
      {badge && (
        <div data-testid="reprinted">
          <p className="panel-line">{t('coordinator.reprint.done', { name: badge.attendee_name })}</p>
          <BadgePrintStatus error={printError} className="panel-line" />
          <BadgePrintCard badge={badge} />
        </div>
      )}
      <ErrorPanel error={error} />
    </section>
  );
}
