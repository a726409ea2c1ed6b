const isSpace = (code: number) => code === 32 || code === 10 || code === 9 || code === 13;
/** Runs of whitespace → one space, trimmed; most changelog text has none to collapse, so nothing is rebuilt then. */
export const collapseSpaces = (text: string) => text.replace(/[ \t\r\n]{2,}|[\t\r\n]/g, ' ').trim();

const ROLE = /:[a-z][a-z:+-]*:$/;
const TARGET = /^([^]*?)\s*<([^<>]+)>$/;

/**
 * Where an inline markup end-string (` or ``) closes content starting at `from`: as in RST, the end-string follows a
 * non-space and is not followed by another backtick (so ``` `` ` `` ``` is "`", and ``` ``a` to ``b`` ``` is "a` to ``b").
 */
function closing(raw: string, marker: '`' | '``', from: number): number {
  let end = raw.indexOf(marker, from);
  while (end !== -1 && (end === from || isSpace(raw.charCodeAt(end - 1)) || raw.charCodeAt(end + marker.length) === 96)) {
    end = raw.indexOf(marker, end + 1);
  }
  return end;
}

/**
 * RST inline markup → plain text in one pass, keeping link targets: ``literal`` → literal, :ref:`x` → x,
 * :ref:`text <target>` → text, `text <url>`_ / `text <url>`__ → text (url kept), `x` → x; whitespace collapsed.
 * Literals may span lines. An unmatched backtick is kept as written.
 */
export function plainText(raw: string): { text: string; links: string[] } {
  const links: string[] = [];
  const pieces: string[] = [];
  let i = 0;
  while (i < raw.length) {
    const tick = raw.indexOf('`', i);
    if (tick === -1) break;
    const literal = raw.charCodeAt(tick + 1) === 96;
    const close = closing(raw, literal ? '``' : '`', tick + (literal ? 2 : 1));
    if (close === -1) break;
    const before = raw.slice(i, tick);
    if (literal) {
      pieces.push(before, raw.slice(tick + 2, close));
      i = close + 2;
      continue;
    }
    const role = ROLE.exec(before);
    pieces.push(role ? before.slice(0, role.index) : before);
    const content = raw.slice(tick + 1, close);
    const target = TARGET.exec(content);
    if (target && !role && /^https?:\/\//i.test(target[2]!)) links.push(target[2]!);
    pieces.push(target ? target[1] || target[2]! : content);
    i = close + 1;
    while (raw.charCodeAt(i) === 95 && i < close + 3) i++; // the `_` or `__` of a reference
  }
  pieces.push(raw.slice(i));
  return { text: collapseSpaces(pieces.join('')), links };
}

const MIGRATION_TITLE = /^\s*automat(?:ic|ed) migrations?\s*$/i;
export const isMigrationSection = (title: string) => MIGRATION_TITLE.test(title);

/** The "See :ref:`datamigration` for more information…" bullet that closes every migration section (plain text). */
export const isBoilerplate = (text: string) => /^see (?:the )?datamigration\b/i.test(text);

/** Backup advice that must stand out: the WARNING bullets, and the older prose announcements' backup requests. */
export const isWarning = (text: string) =>
  /^\s*warning\b/i.test(text) || /strongly advised to perform a backup|ensure you have a tested backup/i.test(text);

/** How releases before 2.78.0 announced migrations: in prose or ordinary bullets. */
export const PROSE_MIGRATION = /\bautomatic(?: [\w-]+){0,3} (?:migration|upgrade)|startup or liveliness probes/i;
export const FIRST_SECTION_RELEASE = '2.78.0';
