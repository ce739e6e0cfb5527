// Finding a guest without a badge: by name, email or part of the code, as the volunteer types
// (the engine searches an index it holds in memory). Each guest shows the ticket type, the status
// and whether they came in already; "Admit" judges the ticket at this gate as a scan would, and
// the check-in records that it was found by search.
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { Direction, GuestHit, GuestSearchView, ScanOutcome, UiError } from '../../bindings';
import { formatTime } from '../../i18n/format';

/** Pause after the last key before searching (a search per key would chase the typing). */
const SEARCH_DELAY_MS = 120;
/** Guests listed at once: the volunteer types more to narrow down. */
const SHOWN = 6;

interface Props {
  direction: Direction;
  onOutcome(outcome: ScanOutcome): void;
  onError(error: UiError): void;
}

export function GuestSearch({ direction, onOutcome, onError }: Props) {
  const { t } = useTranslation();
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<GuestSearchView | null>(null);
  const [admitting, setAdmitting] = useState<string | null>(null);
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

  const admit = async (hit: GuestHit) => {
    setAdmitting(hit.ticket_id);
    try {
      const outcome = await api.admitFound(hit.ticket_id);
      setQuery('');
      setFound(null);
      onOutcome(outcome);
    } catch (raw) {
      onError(raw as UiError);
    } finally {
      setAdmitting(null);
    }
  };

  return (
    <section className="guest-search" aria-label={t('search.label')}>
      <label htmlFor="guest-search" className="field-label">
        {t('search.label')}
      </label>
      <input
        id="guest-search"
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
                  disabled={admitting !== null}
                  aria-label={t(direction === 'exit' ? 'search.exitWho' : 'search.admitWho', { who: hit.name || t('search.noName') })}
                  onClick={() => void admit(hit)}
                >
                  {t(direction === 'exit' ? 'search.exit' : 'search.admit')}
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
