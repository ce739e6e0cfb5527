// Strings: every sentence the kiosk shows lives in locales/en.json and locales/fr.json (a unit
// test keeps their keys identical). The language follows Settings.language and switches at once.
import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';
import en from '../locales/en.json';
import fr from '../locales/fr.json';

export const LANGUAGES = ['en', 'fr'] as const;
export type Language = (typeof LANGUAGES)[number];

/** The UI language for a settings value ("fr", "fr-CA"...); English when unknown. */
export function languageOf(setting: string | null | undefined): Language {
  const base = (setting ?? '').toLowerCase().split(/[-_]/)[0];
  return (LANGUAGES as readonly string[]).includes(base ?? '') ? (base as Language) : 'en';
}

void i18n.use(initReactI18next).init({
  resources: { en: { translation: en }, fr: { translation: fr } },
  lng: 'en',
  fallbackLng: 'en',
  supportedLngs: [...LANGUAGES],
  interpolation: { escapeValue: false },
  returnNull: false,
  initAsync: false,
  showSupportNotice: false,
});

/** Switches the strings and the document's language. */
export function applyLanguage(setting: string): void {
  const language = languageOf(setting);
  if (i18n.language !== language) void i18n.changeLanguage(language);
  document.documentElement.lang = language;
}

export default i18n;
