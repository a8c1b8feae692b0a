/**
 * The fonts of report and invoice PDFs: DejaVu Sans, regular and bold, embedded (pdfkit keeps only the glyphs a
 * document uses). The standard PDF fonts know Latin-1 and a few more, so names such as "Łódź", "Αθήνα" or
 * "Москва" printed as "?". A character DejaVu Sans has no glyph for (Chinese, Japanese, Korean) prints as
 * its empty box; the CSV, JSON and HTML files keep it.
 */
import { readFileSync } from 'node:fs';

export const SANS = 'Sans';
export const SANS_BOLD = 'Sans-Bold';

const FILES: Record<typeof SANS | typeof SANS_BOLD, string> = {
  [SANS]: 'dejavu-fonts-ttf/ttf/DejaVuSans.ttf',
  [SANS_BOLD]: 'dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf',
};

// Read with the first PDF and kept: about 1.4 MB a runtime that never makes one does not hold.
let loaded: Array<[string, Buffer]> | undefined;

/** The fonts by the names the drawing code uses, resolved through the package, so from dist/ and an install alike. */
export function pdfFonts(): Array<[string, Buffer]> {
  return (loaded ??= Object.entries(FILES).map(([name, file]) => [name, readFileSync(require.resolve(file))]));
}

/**
 * A font size given as it was with Helvetica: DejaVu Sans sets Latin text about an eighth wider, so each size is
 * scaled to keep lines, columns and page breaks where they were (the letters look the same size, DejaVu's
 * lower case being taller).
 */
export function size(helveticaPt: number): number {
  return Math.round(helveticaPt * 0.89 * 100) / 100;
}
