/**
 * Device models with signals that look like the real thing: an outdoor
 * environment sensor (diurnal temperature, humidity that falls as it warms,
 * daylight illuminance under passing clouds, a slowly draining battery), a
 * motion sensor (more events by day than at night) and a smart plug that reports
 * its power draw twice a second (an appliance cycling, on in the evening, or
 * running a program), with line voltage and the energy meter.
 */
import type { Random } from './random';

export type ProfileName = 'env' | 'motion' | 'plug';
export const PROFILE_NAMES: readonly ProfileName[] = ['env', 'motion', 'plug'];

export type FieldValue = number | boolean;

export interface FieldSpec {
  unit: string;
  /** Typical size of a normal change: anomalies are sized in multiples of it. */
  scale: number;
  /** Whether level shifts, drift and spikes make sense for it. */
  anomalies: boolean;
}

export const FIELDS: Record<ProfileName, Record<string, FieldSpec>> = {
  env: {
    temperature: { unit: '°C', scale: 1.5, anomalies: true },
    humidity: { unit: '%', scale: 4, anomalies: true },
    illuminance: { unit: 'lx', scale: 2000, anomalies: true },
    battery: { unit: '%', scale: 1, anomalies: false },
  },
  motion: {
    motion: { unit: '', scale: 1, anomalies: false },
    battery: { unit: '%', scale: 1, anomalies: false },
  },
  plug: {
    power: { unit: 'W', scale: 40, anomalies: true },
    voltage: { unit: 'V', scale: 1.5, anomalies: true },
    energy: { unit: 'kWh', scale: 0.01, anomalies: false },
  },
};

type Appliance = 'fridge' | 'tv' | 'washer';

export interface DeviceState {
  id: string;
  profile: ProfileName;
  rng: Random;
  /** Hours added to UTC for the device's local time of day. */
  tz: number;
  battery: number;
  drainPerReport: number;
  // env
  meanTemp: number;
  amplitude: number;
  tempNoise: number;
  humNoise: number;
  lightMax: number;
  cloud: number;
  // motion
  activity: number;
  // plug
  appliance: Appliance;
  phase: number;
  runUntil: number;
  voltage: number;
  energy: number;
  lastTs: number;
}

const HOUR = 3_600_000;

export function makeDevice(id: string, profile: ProfileName, rng: Random): DeviceState {
  return {
    id,
    profile,
    rng,
    tz: Math.round(rng.range(-2, 3)),
    battery: rng.range(55, 100),
    drainPerReport: rng.range(0.0002, 0.002),
    meanTemp: rng.range(8, 22),
    amplitude: rng.range(3, 7),
    tempNoise: 0,
    humNoise: 0,
    lightMax: rng.range(20_000, 60_000),
    cloud: rng.range(0.5, 1),
    activity: rng.range(0.2, 1.5),
    appliance: rng.pick<Appliance>(['fridge', 'fridge', 'tv', 'washer']),
    phase: rng.range(0, 1),
    runUntil: 0,
    voltage: rng.range(228, 232),
    energy: rng.range(0, 500),
    lastTs: 0,
  };
}

const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

function hourOfDay(d: DeviceState, ts: number): number {
  const h = (ts / HOUR + d.tz) % 24;
  return h < 0 ? h + 24 : h;
}

/** Field values of the device's reading at ts (dtMs since its previous report). */
export function sample(d: DeviceState, ts: number, dtMs: number): Record<string, FieldValue> {
  const r = d.rng;
  const h = hourOfDay(d, ts);
  d.battery = Math.max(0, d.battery - d.drainPerReport);
  const battery = round(d.battery, 2);
  switch (d.profile) {
    case 'env': {
      // AR(1) noise keeps successive readings close, as a real sensor's are.
      d.tempNoise = 0.97 * d.tempNoise + 0.06 * r.normal();
      d.humNoise = 0.95 * d.humNoise + 0.3 * r.normal();
      d.cloud = Math.min(1, Math.max(0.25, d.cloud + 0.01 * r.normal()));
      const warm = Math.cos((2 * Math.PI * (h - 15)) / 24);
      const temperature = d.meanTemp + d.amplitude * warm + d.tempNoise;
      const humidity = Math.min(100, Math.max(5, 62 - 3.2 * d.amplitude * warm + d.humNoise));
      const sun = h > 6 && h < 20 ? Math.sin((Math.PI * (h - 6)) / 14) : 0;
      const illuminance = Math.max(0, d.lightMax * sun ** 1.5 * d.cloud + (sun > 0 ? 20 * r.normal() : 0));
      return { temperature: round(temperature, 2), humidity: round(humidity, 1), illuminance: Math.round(illuminance), battery };
    }
    case 'motion': {
      // Events per minute: people are about by day and in the evening, rarely at night.
      const perMin = d.activity * (h >= 7 && h < 23 ? 0.6 : 0.04);
      const p = 1 - Math.exp((-perMin * dtMs) / 60_000);
      return { motion: r.next() < p, battery };
    }
    case 'plug': {
      let power = r.range(0.4, 1.2); // standby
      if (d.appliance === 'fridge') {
        // A compressor cycle of 50 minutes, running a third of it, with a start-up surge.
        const cycle = ((ts / (50 * 60_000) + d.phase) % 1 + 1) % 1;
        if (cycle < 0.34) power = (cycle < 0.003 ? 420 : 95) + 6 * r.normal();
      } else if (d.appliance === 'tv') {
        if (h >= 18.5 + d.phase && h < 23) power = 110 + 8 * r.normal();
      } else {
        if (ts >= d.runUntil && r.next() < dtMs / (6 * HOUR)) d.runUntil = ts + r.range(45, 90) * 60_000;
        if (ts < d.runUntil) {
          // Heating first, then washing, then spinning.
          const left = (d.runUntil - ts) / 60_000;
          power = left > 60 ? 2000 + 50 * r.normal() : left > 10 ? 180 + 30 * r.normal() : 450 + 60 * r.normal();
        }
      }
      power = Math.max(0, power);
      d.voltage = Math.min(240, Math.max(220, 230 + 0.995 * (d.voltage - 230) + 0.15 * r.normal()));
      d.energy += (power * dtMs) / HOUR / 1000;
      return { power: round(power, 1), voltage: round(d.voltage, 1), energy: round(d.energy, 4) };
    }
  }
}
