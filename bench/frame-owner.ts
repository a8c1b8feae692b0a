/**
 * Who a profile frame's script belongs to, for the profile summaries: the
 * package under node_modules, our compiled file under dist/, or the script itself.
 */
export function frameOwner(url: string): string {
  if (!url) return '(native/vm)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1).replace(/^file:\/\//, '');
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}
