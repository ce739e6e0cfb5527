// Numbers, times and durations in the screen's language.
import i18n from './index';

export function formatNumber(value: number): string {
  return new Intl.NumberFormat(i18n.language).format(value);
}

/** A time of day (today) or a date and time (other days). */
export function formatTime(ms: number, timeZone?: string): string {
  const date = new Date(ms);
  const sameDay = new Date().toDateString() === date.toDateString();
  const options: Intl.DateTimeFormatOptions = sameDay
    ? { hour: '2-digit', minute: '2-digit' }
    : { dateStyle: 'medium', timeStyle: 'short' };
  try {
    return new Intl.DateTimeFormat(i18n.language, { ...options, timeZone }).format(date);
  } catch {
    return new Intl.DateTimeFormat(i18n.language, options).format(date);
  }
}

/** A duration such as "3 min" or "45 s" (for clock skew). */
export function formatDuration(ms: number): string {
  const seconds = Math.round(Math.abs(ms) / 1000);
  const unit = (value: number, name: 'hour' | 'minute' | 'second') =>
    new Intl.NumberFormat(i18n.language, { style: 'unit', unit: name, unitDisplay: 'short' }).format(value);
  if (seconds >= 3600) return unit(Math.round(seconds / 360) / 10, 'hour');
  if (seconds >= 60) return unit(Math.round(seconds / 60), 'minute');
  return unit(seconds, 'second');
}
