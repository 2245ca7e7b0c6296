// Word-level differences between two texts, for comparing two listings side by side.

/** A run of a text: its words (with the spaces after them) and whether the other text lacks it. */
export interface Piece {
  text: string;
  changed: boolean;
}

/** Past this many words on a side, a field is compared whole (same or changed). */
const MAX_WORDS = 1500;

function words(s: string): string[] {
  return s.match(/\S+\s*/g) ?? [];
}

function merge(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    if (last && last.changed === p.changed) last.text += p.text;
    else out.push({ ...p });
  }
  return out;
}

/** Each text cut into pieces, those not in the longest common sequence of words (compared
 * without case and trailing spaces) marked changed. */
export function diffWords(a: string, b: string): [Piece[], Piece[]] {
  const wa = words(a);
  const wb = words(b);
  if (wa.length > MAX_WORDS || wb.length > MAX_WORDS) {
    const same = a.trim() === b.trim();
    return [[{ text: a, changed: !same && a !== "" }], [{ text: b, changed: !same && b !== "" }]];
  }
  const key = (w: string) => w.trim().toLowerCase();
  // lcs[i][j]: the longest common sequence of wa[i..] and wb[j..].
  const lcs = Array.from({ length: wa.length + 1 }, () => new Uint16Array(wb.length + 1));
  for (let i = wa.length - 1; i >= 0; i--) {
    for (let j = wb.length - 1; j >= 0; j--) {
      lcs[i][j] = key(wa[i]) === key(wb[j]) ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const pa: Piece[] = [];
  const pb: Piece[] = [];
  let i = 0;
  let j = 0;
  while (i < wa.length || j < wb.length) {
    if (i < wa.length && j < wb.length && key(wa[i]) === key(wb[j])) {
      pa.push({ text: wa[i++], changed: false });
      pb.push({ text: wb[j++], changed: false });
    } else if (j >= wb.length || (i < wa.length && lcs[i + 1][j] >= lcs[i][j + 1])) {
      pa.push({ text: wa[i++], changed: true });
    } else {
      pb.push({ text: wb[j++], changed: true });
    }
  }
  return [merge(pa), merge(pb)];
}
