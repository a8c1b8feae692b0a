/**
 * A config value that is a whole `${NAME}` reference. Node-RED substitutes such a reference only when the
 * variable is set and leaves it as it is otherwise, so a node that still sees one holds "not set" (the shipped
 * packs say `${UPPERSTACK_BIND}`, `${UPPERSTACK_MQTT_URL}`, ...; imported into a runtime without them).
 */
const ENV_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** The variable `value` names when it is such a reference, else undefined. */
export function unsetEnvName(value: unknown): string | undefined {
  const m = typeof value === 'string' ? ENV_REF.exec(value.trim()) : null;
  return m ? m[1] : undefined;
}
