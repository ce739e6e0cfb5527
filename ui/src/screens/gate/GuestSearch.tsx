// Finding a guest without a badge: by name, email or part of the code, as the volunteer types
// (the engine searches an index it holds in memory). Each guest shows the ticket type, the status
// and whether they came in already, and one button: at the gate "Admit" judges the ticket as a
// scan would (the check-in records that it was found by search); on the coordinator's screen
// "Reprint" prints the guest's badge again.
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { TFunction } from 'i18next';
import type { Direction, GuestHit, GuestSearchView, ScanOutcome, UiError } from '../../bindings';
import { formatTime } from '../../i18n/format';

/** Pause after the last key before searching (a search per key would chase the typing). */
const SEARCH_DELAY_MS = 120;
/** Guests listed at once: the volunteer types more to narrow down. */
const SHOWN = 6;

/** The button on each guest found: its words, its accessible name, and what it does. */
export interface GuestAction {
  label: string;
  name(who: string): string;
  run(hit: GuestHit): Promise<void>;
}

/** The gate's action: admit (or record the exit of) the guest, as a scan of their badge would. */
export function admitAction(t: TFunction, direction: Direction, onOutcome: (outcome: ScanOutcome) => void): GuestAction {
  const exit = direction === 'exit';
  return {
    label: t(exit ? 'search.exit' : 'search.admit'),
    name: (who) => t(exit ? 'search.exitWho' : 'search.admitWho', { who }),
    run: async (hit) => onOutcome(await api.admitFound(hit.ticket_id)),
  };
}

interface Props {
  action: GuestAction;
  onError(error: UiError): void;
  /** The search box's id (and label), where a screen has more than one. */
  id?: string;
  label?: string;
}

export function GuestSearch({ action, onError, id = 'guest-search', label }: Props) {
  const { t } = useTranslation();
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<GuestSearchView | null>(null);
  const [acting, setActing] = useState<string | null>(null);
  const latest = useRef(0);
  const reportError = useRef(onError);
  reportError.current = onError;

  useEffect(() => {
    const text = query.trim();
    latest.current += 1;
    const mine = latest.current;
    if (text === '') {
      setFound(null);
      return;
    }
    const timer = window.setTimeout(() => {
      api
        .searchGuests(text, SHOWN)
        .then((view) => {
          if (mine === latest.current) setFound(view);
        })
        .catch((raw: unknown) => {
          if (mine !== latest.current) return;
          setFound(null);
          reportError.current(raw as UiError);
        });
    }, SEARCH_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [query]);

  const act = async (hit: GuestHit) => {
    setActing(hit.ticket_id);
    try {
      await action.run(hit);
      setQuery('');
      setFound(null);
    } catch (raw) {
      onError(raw as UiError);
    } finally {
      setActing(null);
    }
  };

  return (
    <section className="guest-search" aria-label={label ?? t('search.label')}>
      <label htmlFor={id} className="field-label">
        {label ?? t('search.label')}
      </label>
      <input
        id={id}
        type="search"
        className="input"
        value={query}
        placeholder={t('search.placeholder')}
        autoComplete="off"
        spellCheck={false}
        onChange={(event) => setQuery(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === 'Escape') setQuery('');
        }}
      />
      {found && (
        <>
          <p className="note" role="status">
            {found.total === 0
              ? t('search.none')
              : found.total > found.hits.length
                ? t('search.some', { shown: found.hits.length, total: found.total })
                : t('search.all', { count: found.total })}
          </p>
          <ul className="guest-list">
            {found.hits.map((hit) => (
              <li key={hit.ticket_id} className="guest-row" data-ticket={hit.ticket_id}>
                <div className="guest-who">
                  <strong>{hit.name || t('search.noName')}</strong>
                  <span className="guest-meta">{[hit.ticket_type, hit.email].filter(Boolean).join(' · ')}</span>
                  <span className={`guest-status guest-status-${guestState(hit)}`}>{statusText(hit, t)}</span>
                </div>
                <button
                  type="button"
                  className="btn btn-primary"
                  disabled={acting !== null}
                  aria-label={action.name(hit.name || t('search.noName'))}
                  onClick={() => void act(hit)}
                >
                  {action.label}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function guestState(hit: GuestHit): 'void' | 'entered' | 'new' {
  if (hit.status !== 'valid') return 'void';
  return hit.entries > 0 ? 'entered' : 'new';
}

function statusText(hit: GuestHit, t: (key: string, options?: Record<string, unknown>) => string): string {
  if (hit.status !== 'valid') return t(`search.status.${hit.status}`);
  if (hit.entries > 0 && hit.last_entry_at !== null) return t('search.entered', { time: formatTime(hit.last_entry_at) });
  return t('search.notYet');
}
