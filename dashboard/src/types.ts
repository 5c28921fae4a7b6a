// The shapes of docs/api.md. Fields the agent may leave out are optional.

export interface ContainerRef {
  id: string;
  name?: string;
}

export interface Page<T> {
  items: T[];
  next_before?: number | null;
}

export interface Health {
  status: string;
  version?: string;
  hostname?: string;
  started?: string;
  uptime_s?: number;
  integrity?: { mode?: string; enabled?: boolean };
  runtime?: { enabled?: boolean; error?: string };
  store?: Record<string, unknown>;
}

export interface Alert {
  id: number;
  time: string;
  time_ns: number;
  rule: string;
  priority: string;
  priority_level?: number;
  output?: string;
  output_fields?: Record<string, unknown>;
  source?: string;
  tags?: string[];
  hostname?: string;
  action?: string;
  container?: ContainerRef | null;
  pid?: number;
  process_tree?: TreeProcess[];
}

export interface TreeProcess {
  pid: number;
  ppid?: number;
  name?: string;
  exe?: string;
  cmdline?: string;
  uid?: number;
}

export interface Process extends TreeProcess {
  gid?: number;
  tty?: string | number | null;
  start_time_ns?: number;
  start_time?: string;
  container?: ContainerRef | null;
}

export interface Container {
  id: string;
  name?: string;
  running?: boolean;
  processes?: number;
  first_seen?: string;
  last_seen?: string;
  events?: number;
  alerts?: number;
}

export interface ActivityAlert {
  id: number;
  time_ns: number;
  rule: string;
  priority: string;
}

export interface Activity {
  container?: ContainerRef;
  bucket_seconds?: number;
  since?: number;
  until?: number;
  times: number[];
  series: Record<string, number[]>;
  alerts?: ActivityAlert[];
}

export interface Integrity {
  mode?: string;
  measurements?: number;
  pcrs?: Record<string, Record<string, string>>;
  pcr_backend?: string;
  decisions?: Record<string, number>;
}

export interface Measurement {
  id: number;
  index?: number;
  time?: string;
  time_ns?: number;
  pcr?: number;
  template?: string;
  template_hash?: string;
  file_hash?: string;
  path?: string;
  verdict?: string;
}

export interface Denial {
  id: number;
  time?: string;
  time_ns?: number;
  verdict?: string;
  path?: string;
  pid?: number;
  reason?: string;
  entry?: Record<string, unknown>;
}

export interface LoadedRule {
  name: string;
  priority?: string;
  enabled?: boolean;
  tags?: string[];
  action?: string;
  source?: string;
  hits?: number;
  last_hit?: string | null;
}

export interface SkippedRule {
  name: string;
  reason?: string;
  source?: string;
}

export interface Rules {
  enabled?: boolean;
  sources?: string[];
  loaded?: LoadedRule[];
  skipped?: SkippedRule[];
  warnings?: string[];
  counters?: Record<string, number>;
}

// A network flow record (docs/netpolicy.md "Flow log"), inside a stored netflow event.
export interface Flow {
  time_ns?: number;
  direction?: string;
  verdict?: string;
  mode?: string;
  protocol?: string;
  family?: string;
  remote_addr?: string;
  remote_port?: number;
  local_port?: number;
  hook?: string;
  pid?: number;
  uid?: number;
  comm?: string;
  policy?: string;
  rule?: string;
  subject?: string;
}

export interface FlowEvent {
  id: number;
  time: string;
  time_ns: number;
  pid?: number;
  process?: string;
  summary?: string;
  event: Flow;
}

export interface NetpolicyPolicy {
  name: string;
  mode?: string;
  allowed?: number;
  denied?: number;
  audited?: number;
  lost?: number;
}

export interface Netpolicy {
  enabled: boolean;
  generation?: number;
  pin_dir?: string;
  files?: string[];
  policies?: NetpolicyPolicy[];
}
