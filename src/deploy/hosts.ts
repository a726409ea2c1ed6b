/** Loopback names and addresses are one host: `localhost`, `127.0.0.1` and `::1` reach the same listener. */
export function canonicalHost(host: string): string {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(h) || h === '0.0.0.0' || h === '::') return 'loopback';
  return h;
}
