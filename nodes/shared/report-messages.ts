/**
 * Output messages of the report and invoice nodes. Output 1 carries a whole
 * report (or invoice) ready for an e-mail node: `msg.attachments` in the
 * nodemailer shape ({filename, content, contentType}), a subject in
 * `msg.topic` and a short text in `msg.payload`. Output 2 carries one message
 * per file, `msg.payload` the bytes and `msg.filename` the name, ready for a
 * file node.
 */
import type { ReportFile } from '../lib/report/render';
import type { UpperstackMessage } from './input';

export interface Attachment {
  filename: string;
  content: Buffer;
  contentType: string;
}

export function attachments(files: ReportFile[]): Attachment[] {
  // The charset stays: a text/* part without one is US-ASCII to a mail client, so "m³" in the CSV read as "mÂ³".
  return files.map((f) => ({ filename: f.name, content: f.data, contentType: f.contentType }));
}

export function fileMessages(files: ReportFile[], base: Record<string, unknown>, newId: () => string): UpperstackMessage[] {
  return files.map((f) => ({ _msgid: newId(), ...base, payload: f.data, filename: f.name, contentType: f.contentType }) as UpperstackMessage);
}
