// Names read out of the real changelog's Deprecations, Model Changes and Automatic Migrations bullets (issue 23):
// every bullet from 2.150.0 to 2.250.0 gets a category, the ones no rule fits are listed, none is dropped.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { impactBullets, impactSectionOf, parseChangelog, type ImpactBullet } from '../../src/changelog/index.js';
import { compareVersions } from '../../src/changelog/version.js';
import { realChangelog } from '../support/helpers.js';

const real = parseChangelog(readFileSync(realChangelog, 'utf8'), { source: 'CHANGELOG.rst' });
const range = real.releases.filter((r) => compareVersions(r.version, '2.150.0') >= 0 && compareVersions(r.version, '2.250.0') <= 0);
const bullets = impactBullets(range);
const named = (b: ImpactBullet) => b.names.map((n) => (n.command ? `${n.kind} ${n.command} ${n.name}` : `${n.kind} ${n.name}`));
const at = (version: string, needle: string) => {
  const found = bullets.filter((b) => b.version === version && b.text.includes(needle));
  expect(found, `${version}: ${needle}`).toHaveLength(1);
  return found[0]!;
};

describe('impact names from the real changelog, 2.150.0 – 2.250.0', () => {
  it('classifies every bullet of every Deprecations, Model Changes and Automatic Migrations section: none dropped', () => {
    const inSections = range.flatMap((r) => r.sections.filter((s) => impactSectionOf(s.title) !== null).flatMap((s) => s.bullets));
    expect(inSections.length).toBe(274);
    expect(bullets).toHaveLength(inSections.length);
    expect(bullets.map((b) => b.text)).toEqual(inSections.map((b) => b.text));
    const counts = Object.fromEntries(['checked', 'outside-cell', 'storage-migration', 'summary', 'unclassified'].map((c) => [c, bullets.filter((b) => b.category === c).length]));
    expect(counts).toEqual({ checked: 120, 'outside-cell': 24, 'storage-migration': 12, summary: 111, unclassified: 7 });
    // A checked bullet names something (or is a migration of every node); the others say why they are not checked.
    for (const b of bullets) {
      if (b.category === 'checked') expect(b.names.length > 0 || b.allNodes === true, b.text).toBe(true);
      else expect(b.reason, b.text).toBeTruthy();
    }
  });

  it('lists the bullets it cannot classify, as such', () => {
    expect(bullets.filter((b) => b.category === 'unclassified').map((b) => `${b.version} ${b.text.slice(0, 59)}`)).toEqual([
      '2.167.0 The nomerge option on views has been deprecated. It is auto',
      '2.177.0 Add model elements to represent the DriveSerialNumber and M',
      '2.187.0 Update the parsing of CPE 2.2 and CPE 2.3 strings to be str',
      '2.192.0 Deprecated passing $lib.null to Storm HTTP APIs that accept',
      '2.212.0 Added forms for JA4/JA4S TLS fingerprints, samples, and han',
      '2.226.0 Added a linked light edge between any two forms. (#4549)',
      '2.226.0 Deprecated storm.asroot.mod.<modname> style permissions in ',
    ]);
  });

  it('names the Storm library calls the Deprecations sections name, not their replacements', () => {
    expect(named(at('2.162.0', '$lib.dict()'))).toEqual(['storm-lib $lib.dict']);
    expect(named(at('2.194.0', '$lib.list()'))).toEqual(['storm-lib $lib.list']);
    expect(named(at('2.194.0', '$lib.text()'))).toEqual(['storm-lib $lib.text']); // not $lib.str.join, the replacement
    expect(named(at('2.184.0', '$lib.inet.whois.guid'))).toEqual(['storm-lib $lib.inet.whois.guid']);
    expect(named(at('2.195.0', 'cvss'))).toEqual(['storm-lib $lib.infosec.cvss.calculate', 'storm-lib $lib.infosec.cvss.calculateFromProps']);
    expect(named(at('2.224.0', 'Deprecated $lib.ps'))).toEqual(['storm-lib $lib.ps']); // not $lib.task
    expect(named(at('2.210.0', '$lib.notification'))).toEqual(['storm-lib $lib.notification', 'storm-method notify', 'storm-method tell']);
    expect(named(at('2.165.0', '$lib.model.edge'))).toEqual(['storm-lib $lib.model.edge']);
    const passingNull = at('2.192.0', '$lib.null');
    expect([passingNull.category, passingNull.names]).toEqual(['unclassified', []]); // $lib.null is a value every Storm text uses
  });

  it('names commands, command options, package keys, variables and cell options', () => {
    expect(named(at('2.234.0', 'cron.add'))).toEqual(['--minute', '--hour', '--day', '--month', '--year', '--hourly', '--daily', '--monthly', '--yearly'].map((o) => `storm-option cron.add ${o}`));
    expect(named(at('2.224.0', 'ps.kill'))).toEqual(['storm-command ps.kill']);
    expect(named(at('2.224.0', 'ps.list'))).toEqual(['storm-command ps.list']);
    expect(named(at('2.195.0', 'forms key'))).toEqual(['package-key forms']);
    expect(named(at('2.165.0', 'synapse_minversion'))).toEqual(['package-key synapse_minversion']);
    expect(named(at('2.226.0', 'asroot option'))).toEqual(['package-key asroot']);
    expect(named(at('2.179.0', '$tag variable'))).toEqual(['storm-var $tag']);
    expect(named(at('2.230.0', 'idens()'))).toEqual(['storm-method idens']);
    expect(named(at('2.206.0', 'modules Cortex configuration'))).toEqual(['config modules']);
    expect(named(at('2.165.0', 'cron:enable'))).toEqual(['config cron:enable', 'config trigger:enable']);
  });

  it('names forms and properties, joining relative properties to the form named', () => {
    const registrant = at('2.247.0', 'Deprecate the inet:whois:rec:registrant');
    expect([registrant.section, registrant.action, named(registrant)]).toEqual(['deprecations', 'deprecated', ['model inet:whois:rec:registrant']]);
    expect(registrant.links).toEqual(['https://github.com/vertexproject/synapse/pull/4979']);
    expect([at('2.203.0', 'meta:seen').action, named(at('2.203.0', 'meta:seen'))]).toEqual(['deprecated', ['model meta:seen']]);
    expect(named(at('2.217.0', 'ou:requirement'))).toEqual(['model ou:requirement']); // not doc:requirement, the replacement
    expect(named(at('2.191.0', 'inet:web:acct secondary'))).toEqual(['model inet:web:acct']);
    expect(named(at('2.189.0', ':technique'))).toEqual(['model risk:vulnerable', 'model risk:vulnerable:technique']);
    expect(named(at('2.223.0', 'pe:langid type'))).toEqual(['model pe:langid']); // enums:strict=False is a type option
    expect(named(at('2.241.0', 'risk:threat'))).toEqual(['edge risk:threat -(uses)> inet:service:app']);
    expect(at('2.211.0', 'readonly attribute').action).toBe('changed');
  });

  it('names the forms and properties migrations rewrite; a migration naming none is a storage migration', () => {
    expect(named(at('2.187.0', 'it:sec:cpe'))).toEqual(['model it:sec:cpe']);
    expect(named(at('2.237.0', 'Migrated invalid inet:client'))).toEqual(['model inet:client', 'model inet:server', 'model inet:url']);
    expect(named(at('2.243.0', 'econ:pay:card'))).toEqual(['model econ:pay:card', 'model econ:pay:pan', 'model econ:pay:card:pan']);
    // What Synapse's source says a revision reads: the email migration names no form in its bullet, the IPv4/IPv6
    // one lifts a few ranges only (its cost does not grow with the forms).
    expect([at('2.230.0', 'email addresses').category, at('2.230.0', 'email addresses').rewrites?.names]).toEqual(['checked', ['inet:email']]);
    expect(at('2.181.0', 'IANA Special Purpose Registry').rewrites?.scan).toBe('subset');
    const known = bullets.filter((b) => b.rewrites).map((b) => `${b.version} ${b.rewrites!.scan}`);
    expect(known).toEqual(['2.180.0 all', '2.181.0 subset', '2.181.0 all', '2.187.0 all', '2.195.0 all', '2.196.0 all', '2.230.0 all', '2.237.0 all', '2.237.0 all', '2.243.0 all']);
    expect(at('2.170.0', 'index of buids by form').allNodes).toBe(true);
    expect(at('2.240.0', 'drive data').category).toBe('storage-migration');
    expect(at('2.243.0', 'unique user email index').category).toBe('storage-migration');
    expect(bullets.filter((b) => b.section === 'migrations' && b.category === 'summary').every((b) => /^See datamigration/.test(b.text))).toBe(true);
  });

  it('puts Python APIs, tools, Telepath and AHA outside the cell, with the reason', () => {
    expect(at('2.164.0', 'cellauth').reason).toBe('a Python module, class or tool');
    expect(at('2.167.0', 'Telepath.Pipeline').category).toBe('outside-cell');
    expect(at('2.230.0', 'path Storm option').category).toBe('outside-cell');
    expect(at('2.206.0', 'multiple AHA network').category).toBe('outside-cell');
  });
});
