/** The intakes open in this process, by their input node's id. */
import type { Intake } from './intake';
import type { IntakeStats } from './intake-options';

const intakes = new Map<string, Intake>();

export function registerIntake(intake: Intake): void {
  intakes.set(intake.id, intake);
}

export function unregisterIntake(intake: Intake): void {
  if (intakes.get(intake.id) === intake) intakes.delete(intake.id);
}

/** Stats of every open intake in this process (for /health and /metrics). */
export function intakeStats(): IntakeStats[] {
  return [...intakes.values()].map((i) => i.stats());
}

/** The open intake with this id (its input node's id): dead-letter replays go back in through it. */
export function findIntake(id: string): Intake | undefined {
  return intakes.get(id);
}
