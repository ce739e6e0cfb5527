import { useTranslation } from 'react-i18next';
import type { ReadyScreen } from '../app/kiosk-context';
import { useKiosk } from '../app/kiosk-context';
import { SyncIndicator } from './SyncIndicator';

/** The ready screens' header: where this is, the sync state, and the way between screens. */
export function TopBar({ title }: { title: string }) {
  const { t } = useTranslation();
  const { state, screen, go } = useKiosk();
  const items: { screen: ReadyScreen; label: string }[] = [
    { screen: 'gate', label: t('nav.gate') },
    { screen: 'walk-in', label: t('nav.walkIn') },
    { screen: 'coordinator', label: t('nav.coordinator') },
    { screen: 'settings', label: t('nav.settings') },
  ];
  return (
    <header className="topbar">
      <div className="topbar-title">
        <h1>{title}</h1>
        {state.event && <p className="topbar-event">{state.event.name}</p>}
      </div>
      <SyncIndicator />
      <nav className="topbar-nav" aria-label={t('nav.label')}>
        {items.map((item) => (
          <button
            key={item.screen}
            type="button"
            className={`btn btn-nav${screen === item.screen ? ' btn-nav-current' : ''}`}
            aria-current={screen === item.screen ? 'page' : undefined}
            onClick={() => go(item.screen)}
          >
            {item.label}
          </button>
        ))}
      </nav>
    </header>
  );
}
