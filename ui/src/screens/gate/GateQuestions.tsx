// The questions a gate asks before it admits (a `needs_answers` verdict), answered on the spot:
// the event form's fields, checked as the engine checks them (every question is required here,
// a consent must be ticked). "Answer and admit" keeps the answers with the guest and judges the
// ticket again; the engine's verdict then replaces this panel. Problems show at their question.
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api';
import type { Field, FieldError, JsonValue, ScanOutcome, UiError } from '../../bindings';
import { FieldControl, controlId } from '../../forms/FieldControl';
import { problemText, serverProblemText } from '../../forms/problem-text';
import { cleanField, type RawAnswers } from '../../forms/validation';
import { languageOf } from '../../i18n';

interface GateQuestionsProps {
  outcome: ScanOutcome;
  onOutcome(outcome: ScanOutcome): void;
  onError(error: UiError): void;
  onCancel(): void;
}

export function GateQuestions({ outcome, onOutcome, onError, onCancel }: GateQuestionsProps) {
  const { t, i18n } = useTranslation();
  const questions: Field[] = outcome.questions.map((field) => ({ ...field, required: true, show_when: undefined }));
  const [answers, setAnswers] = useState<RawAnswers>({});
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const first = questions[0];
    if (first) document.getElementById(controlId(first.id))?.focus();
    // Once per verdict shown.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [outcome.seq]);

  const submit = async () => {
    const cleaned: Record<string, JsonValue> = {};
    const found: Record<string, string> = {};
    for (const field of questions) {
      const result = cleanField(field, answers[field.id]);
      if (!result.ok) found[field.id] = problemText(t, result.problem, field);
      else if (result.value !== undefined) cleaned[field.id] = result.value;
    }
    setProblems(found);
    const first = questions.find((field) => field.id in found);
    if (first) {
      document.getElementById(controlId(first.id))?.focus();
      return;
    }
    if (!outcome.ticket_id) return;
    setBusy(true);
    try {
      onOutcome(await api.answerQuestions(outcome.ticket_id, cleaned, outcome.source));
    } catch (raw) {
      const failure = raw as UiError;
      if (failure.kind !== 'fields') {
        onError(failure);
        return;
      }
      const english = languageOf(i18n.language) === 'en';
      const atFields: Record<string, string> = {};
      const elsewhere: FieldError[] = [];
      for (const problem of failure.fields) {
        const field = questions.find((q) => q.id === problem.field);
        if (field) atFields[field.id] ??= serverProblemText(t, problem, field, english);
        else elsewhere.push(problem);
      }
      setProblems(atFields);
      if (elsewhere.length > 0) onError(failure);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="gate-questions"
      aria-label={t('questions.title')}
      noValidate
      onClick={(event) => event.stopPropagation()}
      onSubmit={(event) => {
        event.preventDefault();
        void submit();
      }}
    >
      <p className="gate-questions-title">{t('questions.title')}</p>
      {questions.map((field) => (
        <FieldControl
          key={field.id}
          field={field}
          value={answers[field.id]}
          error={problems[field.id] ?? null}
          onChange={(value) => {
            setAnswers((old) => ({ ...old, [field.id]: value }));
            setProblems((old) => {
              if (!(field.id in old)) return old;
              const { [field.id]: _gone, ...rest } = old;
              return rest;
            });
          }}
        />
      ))}
      <div className="gate-questions-actions">
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? t('common.working') : t('questions.submit')}
        </button>
        <button type="button" className="btn btn-secondary" disabled={busy} onClick={onCancel}>
          {t('questions.cancel')}
        </button>
      </div>
    </form>
  );
}
