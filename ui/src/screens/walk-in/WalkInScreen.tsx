// The registration desk: a walk-in's name, contact and ticket type, then the event's own form,
// then their badge. The draft is kept while the kiosk is locked or another screen is shown.
// Personal data is on this screen: it locks the kiosk itself after the idle time the settings
// give (Settings.desk_lock_minutes), with a warning in the last seconds.
import { useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { BadgeView, FieldError, UiError, WalkInSetup } from '../../bindings';
import { useKiosk } from '../../app/kiosk-context';
import { useDraft } from '../../app/use-draft';
import { useIdleLock } from '../../app/use-idle-lock';
import { ErrorPanel } from '../../components/ErrorPanel';
import { Spinner } from '../../components/Spinner';
import { TopBar } from '../../components/TopBar';
import { FormRenderer } from '../../forms/FormRenderer';
import { serverProblemText } from '../../forms/problem-text';
import { firstInFormOrder, formFields, pageOfField, type CleanAnswers, type RawAnswers } from '../../forms/validation';
import { languageOf } from '../../i18n';
import { BadgeCard } from './BadgeCard';
import { initialAnswers, PERSON_OPTIONS, personPage, screenFieldId, walkInForm, walkInRequest } from './person';

interface Draft {
  answers: RawAnswers;
  page: number;
  badge: BadgeView | null;
}

const emptyDraft = (): Draft => ({ answers: {}, page: 0, badge: null });

export function WalkInScreen() {
  const { t, i18n } = useTranslation();
  const { state, setState, handleError } = useKiosk();
  const lockingIn = useIdleLock(state.settings.desk_lock_minutes, () => {
    api
      .lock()
      .then(setState)
      .catch((raw) => setError(handleError(raw as UiError)));
  });
  const [setup, setSetup] = useState<WalkInSetup | null>(null);
  const [loadError, setLoadError] = useState<UiError | null>(null);
  const [draft, setDraft] = useDraft<Draft>('walk-in', emptyDraft);
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let current = true;
    api
      .walkInSetup()
      .then((answer) => {
        if (!current) return;
        setSetup(answer);
        setDraft((old) =>
          Object.keys(old.answers).length === 0 ? { ...old, answers: initialAnswers(answer.ticket_types) } : old,
        );
      })
      .catch((raw) => current && setLoadError(handleError(raw as UiError)));
    return () => {
      current = false;
    };
  }, [handleError, setDraft]);

  const form = useMemo(
    () => (setup ? walkInForm(setup.form, personPage(t, setup.ticket_types)) : null),
    [setup, t],
  );

  const submit = async (cleaned: CleanAnswers) => {
    if (!form) return;
    setBusy(true);
    setError(null);
    setServerErrors({});
    try {
      const badge = await api.registerWalkIn(walkInRequest(cleaned));
      setDraft({ ...emptyDraft(), badge });
    } catch (raw) {
      const failure = handleError(raw as UiError);
      const english = languageOf(i18n.language) === 'en';
      const fields = new Map(formFields(form).map((field) => [field.id, field] as const));
      const reported: FieldError[] =
        failure.kind === 'fields'
          ? failure.fields
          : failure.field
            ? [{ field: failure.field, code: 'wrong_type', message: failure.message }]
            : [];
      const atFields: Record<string, string> = {};
      for (const problem of reported) {
        const id = screenFieldId(problem.field);
        if (!fields.has(id)) continue;
        atFields[id] ??= serverProblemText(t, problem, fields.get(id), english);
      }
      const first = firstInFormOrder(form, Object.keys(atFields));
      if (first) {
        setServerErrors(atFields);
        setDraft((old) => ({ ...old, page: pageOfField(form, first) }));
      }
      if (!first || Object.keys(atFields).length < reported.length) setError(failure);
    } finally {
      setBusy(false);
    }
  };

  const next = () => {
    setDraft({ ...emptyDraft(), answers: initialAnswers(setup?.ticket_types ?? []) });
    setServerErrors({});
    setError(null);
  };

  return (
    <div className="screen">
      <TopBar title={t('walkIn.title')} />
      <main className="content content-form">
        {lockingIn !== null && (
          <div className="notice notice-idle" role="alert">
            <p className="notice-title">{t('walkIn.idleLock', { seconds: lockingIn })}</p>
          </div>
        )}
        {loadError && <ErrorPanel error={loadError} />}
        {!setup && !loadError && <Spinner label={t('common.loading')} />}
        {draft.badge ? (
          <BadgeCard badge={draft.badge} onNext={next} />
        ) : (
          form && (
            <FormRenderer
              form={form}
              answers={draft.answers}
              onAnswer={(id, value) => {
                setDraft((old) => ({ ...old, answers: { ...old.answers, [id]: value } }));
                setServerErrors((old) => {
                  if (!(id in old)) return old;
                  const rest = { ...old };
                  delete rest[id];
                  return rest;
                });
              }}
              page={draft.page}
              onPage={(page) => setDraft((old) => ({ ...old, page }))}
              serverErrors={serverErrors}
              onSubmit={(cleaned) => void submit(cleaned)}
              submitLabel={t('walkIn.submit')}
              busy={busy}
              options={PERSON_OPTIONS}
              footer={<ErrorPanel error={error} />}
            />
          )
        )}
      </main>
    </div>
  );
}
