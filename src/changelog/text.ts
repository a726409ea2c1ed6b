/**
 * RST inline markup → plain text, keeping link targets: ``literal`` → literal, :ref:`x` → x,
 * :ref:`text <target>` → text, `text <url>`_ → text (url kept), `x` → x.
 */
export function plainText(raw: string): { text: string; links: string[] } {
  if (!raw.includes('`')) return { text: raw.replace(/\s+/g, ' ').trim(), links: [] };
  const links: string[] = [];
  let text = raw.replace(/`([^`<]*?)\s*<(https?:\/\/[^>]+)>`__?/g, (_m, label: string, url: string) => {
    links.push(url);
    return label.trim() || url;
  });
  text = text
    .replace(/``(.+?)``/g, '$1')
    .replace(/:[a-z]+:`([^`<]+?)\s*<[^>]+>`/g, '$1')
    .replace(/:[a-z]+:`([^`]+)`/g, '$1')
    .replace(/`([^`]+)`_?/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
  return { text, links };
}

const MIGRATION_TITLE = /^automat(?:ic|ed) migrations?$/i;
export const isMigrationSection = (title: string) => MIGRATION_TITLE.test(title.trim());

/** The "See :ref:`datamigration` for more information…" bullet that closes every migration section. */
export const isBoilerplate = (raw: string) => /^see :ref:`datamigration`/i.test(raw.trim());

export const isWarning = (text: string) => /^\s*warning\b/i.test(text) || /strongly advised to perform a backup/i.test(text);

/** How releases before 2.78.0 announced migrations: in prose or ordinary bullets. */
export const PROSE_MIGRATION = /automatic (?:data )?(?:migration|upgrade)|startup or liveliness probes|data migration/i;
export const FIRST_SECTION_RELEASE = '2.78.0';
