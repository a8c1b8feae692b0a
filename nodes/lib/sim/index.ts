/** The device simulator: a fleet, realistic signals, labelled anomalies, MQTT/HTTP/CoAP clients. */
export { Simulator, CODECS, CONTENT_TYPES, checkOptions, splitFleet, type Codec, type SimulatorOptions, type SimulatorStats, type SimDevice } from './simulator';
export { MqttTransport, MAX_MESSAGE_BYTES_RANGE, HttpTransport, CoapTransport, FunctionTransport, templateCredentials, fill, devicePrefixProblem, mqttTopicProblem, type TopicProblem, type Transport, type Credentials, type CredentialsHook } from './transports';
export { ANOMALY_KINDS, AnomalyInjector, type Anomaly, type AnomalyKind } from './anomalies';
export { PROFILE_NAMES, FIELDS, makeDevice, sample, type ProfileName, type DeviceState } from './profiles';
export { Random } from './random';
export { parseRate, parseDuration, parseMix, formatDuration } from './units';
export { truthDocument, type TruthDocument } from './truth';
