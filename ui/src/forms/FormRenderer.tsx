// Renders any Form: one page at a time with a step indicator and next/back, sections with their
// titles, every field kind, conditional fields evaluated as answers change, and problems said
// at their field, both the ones found here (on next and on submit) and the engine's.
//
// The answers and the page are the caller's (so a draft survives a lock); what is sent on
// submit is the cleaned answers of the shown fields only.
import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { Field, Form } from '../bindings';
import { FieldControl, controlId } from './FieldControl';
import { problemText } from './problem-text';
import {
  evaluateForm,
  firstInFormOrder,
  pageFields,
  pageOfField,
  type CleanAnswers,
  type EvaluateOptions,
  type Problem,
  type RawAnswer,
  type RawAnswers,
} from './validation';

export interface FormRendererProps {
  form: Form;
  answers: RawAnswers;
  onAnswer(fieldId: string, value: RawAnswer): void;
  page: number;
  onPage(page: number): void;
  /** Problems the engine found, by field id, already worded. */
  serverErrors?: Record<string, string>;
  onSubmit(cleaned: CleanAnswers): void;
  submitLabel: string;
  busy?: boolean;
  options?: EvaluateOptions;
  /** Shown above the navigation buttons (e.g. an error not tied to a field). */
  footer?: ReactNode;
}

export function FormRenderer({
  form,
  answers,
  onAnswer,
  page,
  onPage,
  serverErrors = {},
  onSubmit,
  submitLabel,
  busy,
  options,
  footer,
}: FormRendererProps) {
  const { t } = useTranslation();
  const [problems, setProblems] = useState<Record<string, Problem>>({});
  const heading = useRef<HTMLHeadingElement>(null);
  const focusField = useRef<string | null>(null);
  const pageMoved = useRef(false);

  const lastPage = Math.max(0, form.pages.length - 1);
  const current = Math.min(Math.max(0, page), lastPage);
  const evaluation = useMemo(() => evaluateForm(form, answers, options), [form, answers, options]);
  const visible = useMemo(() => new Set(evaluation.visible), [evaluation]);

  // After a render that moved pages or found problems: focus the first problem, or the heading.
  useEffect(() => {
    if (focusField.current) {
      document.getElementById(controlId(focusField.current))?.focus();
      focusField.current = null;
      pageMoved.current = false;
    } else if (pageMoved.current) {
      heading.current?.focus();
      pageMoved.current = false;
    }
  });

  // The engine's problems: focus the first one (the caller has switched to its page).
  useEffect(() => {
    const first = firstInFormOrder(form, Object.keys(serverErrors));
    if (first) document.getElementById(controlId(first))?.focus();
  }, [serverErrors, form]);

  const goTo = (next: number) => {
    pageMoved.current = true;
    onPage(next);
  };

  const next = () => {
    const here = new Set(pageFields(form, current).map((field) => field.id));
    const found = Object.fromEntries(Object.entries(evaluation.problems).filter(([id]) => here.has(id)));
    setProblems(found);
    const first = firstInFormOrder(form, Object.keys(found));
    if (first) {
      focusField.current = first;
      return;
    }
    goTo(current + 1);
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    if (current < lastPage) {
      next();
      return;
    }
    setProblems(evaluation.problems);
    const first = firstInFormOrder(form, Object.keys(evaluation.problems));
    if (first) {
      const target = pageOfField(form, first);
      focusField.current = first;
      if (target !== current) onPage(target);
      return;
    }
    onSubmit(evaluation.cleaned);
  };

  const change = (field: Field, value: RawAnswer) => {
    setProblems((old) => {
      if (!(field.id in old)) return old;
      const rest = { ...old };
      delete rest[field.id];
      return rest;
    });
    onAnswer(field.id, value);
  };

  const errorFor = (field: Field): string | null => {
    const problem = problems[field.id];
    if (problem) return problemText(t, problem, field);
    return serverErrors[field.id] ?? null;
  };

  const pageDef = form.pages[current];
  const errorCount = Object.keys(problems).filter((id) => visible.has(id)).length;

  return (
    <form className="form-renderer" onSubmit={submit} noValidate aria-busy={busy || undefined}>
      {form.pages.length > 1 && (
        <ol className="steps" aria-label={t('form.steps')}>
          {form.pages.map((p, index) => (
            <li
              key={p.id}
              className={`step${index === current ? ' step-current' : ''}${index < current ? ' step-done' : ''}`}
              aria-current={index === current ? 'step' : undefined}
            >
              <span className="step-number">{index + 1}</span>
              <span className="step-title">{p.title}</span>
            </li>
          ))}
        </ol>
      )}
      <p className="step-of">{t('form.stepOf', { current: current + 1, total: form.pages.length })}</p>
      {pageDef && (
        <h2 className="page-title" ref={heading} tabIndex={-1}>
          {pageDef.title || form.title}
        </h2>
      )}
      {errorCount > 0 && (
        <p className="form-summary" role="alert">
          {t('form.problems', { number: errorCount })}
        </p>
      )}
      {pageDef?.sections.map((section) => {
        const shown = section.fields.filter((field) => visible.has(field.id));
        if (shown.length === 0) return null;
        return (
          <section className="form-section" key={section.id} aria-labelledby={section.title ? `section-${section.id}` : undefined}>
            {section.title && (
              <h3 className="section-title" id={`section-${section.id}`}>
                {section.title}
              </h3>
            )}
            <div className="form-fields">
              {shown.map((field) => (
                <FieldControl
                  key={field.id}
                  field={field}
                  value={answers[field.id]}
                  onChange={(value) => change(field, value)}
                  error={errorFor(field)}
                />
              ))}
            </div>
          </section>
        );
      })}
      {footer}
      <div className="form-nav">
        {current > 0 && (
          <button type="button" className="btn btn-secondary btn-large" onClick={() => goTo(current - 1)} disabled={busy}>
            {t('form.back')}
          </button>
        )}
        <button type="submit" className="btn btn-primary btn-large" disabled={busy}>
          {current < lastPage ? t('form.next') : busy ? t('common.working') : submitLabel}
        </button>
      </div>
    </form>
  );
}
