export { SessionMachine } from './session-machine.js';
export type { SessionStats, MachineSnapshot } from './session-machine.js';
export type { SessionEvent, SessionEventType, ConfirmedService } from './events.js';
export { DEFAULTS } from './options.js';
export type { MachineOptions, Negotiated, InitialTokenHolder } from './options.js';
export { TRANSITIONS, nextState } from './transitions.js';
export type { LifecycleState, LifecycleTrigger, Role, Transition } from './transitions.js';
export { DEFAULT_PROPOSED_UNITS } from './negotiation.js';
