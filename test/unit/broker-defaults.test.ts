/**
 * The broker node's defaults (what an empty field in the editor means) and the broker library's own
 * (what a flow written by hand without the setting gets) are kept in two places: the editor cannot load
 * the library. They must say the same, or a setting left empty behaves differently from one never set.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BROKER_DEFAULTS } from '../../nodes/lib/broker/options';
import { BROKER_SETTING_DEFAULTS, BROKER_SETTING_RANGES, brokerSetting } from '../../nodes/broker/options';

test('the broker node and the broker library have the same defaults', () => {
  assert.equal(BROKER_SETTING_DEFAULTS.maxPacketKb * 1024, BROKER_DEFAULTS.maximumPacketSize);
  assert.equal(BROKER_SETTING_DEFAULTS.receiveMaximum, BROKER_DEFAULTS.receiveMaximum);
  assert.equal(BROKER_SETTING_DEFAULTS.maxQueued, BROKER_DEFAULTS.maxQueued);
  assert.equal(BROKER_SETTING_DEFAULTS.maxBehindKb * 1024, BROKER_DEFAULTS.maxBehindBytes);
});

test('every broker default lies within the range the editor allows', () => {
  for (const [name, value] of Object.entries(BROKER_SETTING_DEFAULTS)) {
    const { min, max } = BROKER_SETTING_RANGES[name as keyof typeof BROKER_SETTING_RANGES];
    assert.ok(value >= min && value <= max, `${name} default ${value} outside ${min}–${max}`);
    assert.equal(brokerSetting(name as keyof typeof BROKER_SETTING_DEFAULTS, ''), value);
  }
});
