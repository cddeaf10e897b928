// The node's Prometheus metrics: one prom-client registry per daemon (tests
// run several daemons in one process, so never prom-client's global one),
// served as GET /metrics on the node's HTTP listener (http.ts).
//
// Names follow Prometheus conventions (flotilla_ prefix, base units, _total
// for counters, _seconds for durations) and SwarmKit's metrics where there is
// one. Three sources:
// - hooks the components call on their paths (src/manager/metrics.ts,
//   RaftMetrics, DispatcherMetrics, AgentMetrics, the timed executor): one
//   increment or one histogram observation each;
// - gauges computed when Prometheus scrapes (collect callbacks), from the
//   store's indexes and the components' state: nothing runs on a change;
// - the leader's follow of its store's watch: scheduling delays (NEW to
//   RUNNING) and restart decisions, counted by the leader only so that a sum
//   over the managers counts each once.
// Labels take values from fixed sets only (states, operations): no per-task,
// per-service or per-node label. Process metrics keep prom-client's standard
// names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds, ...): the
// names every Node.js dashboard and alert already uses, told apart by the
// scrape's job and instance labels (less three that break the naming rules).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TASK_STATES, TaskState } from '../api/objects.js';
import type { Dispatcher } from '../manager/dispatcher/dispatcher.js';
import type { Manager } from '../manager/manager.js';
import {
  countNodesByState,
  countServicesByUpdateState,
  decidedRestart,
  schedulingDelaySeconds,
  taskStateLabel,
  type ManagerMetrics,
} from '../manager/metrics.js';
import { Role } from '../raft/types.js';
import type { Agent, AgentMetrics } from '../worker/agent.js';
import type { ExecutorCallObserver } from '../worker/exec/timed.js';

/** What the scrape-time gauges read: the daemon's current manager (null on a worker) and agent (null until the engine answers). */
export interface MetricsSources {
  manager(): Manager | null;
  agent(): Agent | null;
  /** This node's id and role, for flotilla_node_info. */
  node(): { id: string; role: string };
}

/** Durations of the consensus path: from a millisecond to ten seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** One entry's apply: from ten microseconds up. */
const APPLY_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1];
/** Snapshots, container operations (image checks, stops with a grace period): up to minutes. */
const SLOW_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** From a task's creation to RUNNING: scheduling, dispatch, image, container start. */
const SCHEDULING_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

const ALL_TASK_STATES = TASK_STATES.map((s) => [s, taskStateLabel(s)] as const);

export class DaemonMetrics {
  readonly registry = new Registry();
  /** For the manager's components (Manager.start's metrics). */
  readonly manager: ManagerMetrics;
  /** For the worker agent. */
  readonly agent: AgentMetrics;
  /** For timedExecutor (src/worker/exec/timed.ts). */
  readonly executorCall: ExecutorCallObserver;
  private readonly schedulingDelay: Histogram;
  private readonly restarts: Counter;

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters: Prometheus' naming rules (and `promtool check metrics`) refuse them; the
    // same counts remain, by type, in nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);

    const counter = (name: string, help: string, labelNames: string[] = []): Counter => new Counter({ name, help, labelNames, registers });
    const histogram = (name: string, help: string, buckets: number[], labelNames: string[] = []): Histogram => new Histogram({ name, help, buckets, labelNames, registers });
    const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void): Gauge =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect(this: Gauge) {
          this.reset();
          collect(this);
        },
      });

    // --- the node
    gauge('flotilla_node_info', 'This node: 1, with its id and current role as labels.', ['node_id', 'role'], (g) => {
      const n = sources.node();
      g.set({ node_id: n.id, role: n.role }, 1);
    });

    // --- manager: read from the local store and Raft when scraped
    const withManager = (fn: (m: Manager, g: Gauge) => void) => (g: Gauge) => {
      const m = sources.manager();
      if (m) fn(m, g);
    };
    gauge('flotilla_manager_leader', '1 on the Raft leader, 0 on any other node.', [], (g) => g.set(sources.manager()?.rs.isLeader() ? 1 : 0));
    gauge(
      'flotilla_manager_nodes',
      'Nodes of the cluster by state (every manager reports its copy of the store).',
      ['state'],
      withManager((m, g) => {
        for (const [state, n] of countNodesByState(m.rs.store.values('node'))) g.set({ state }, n);
      }),
    );
    gauge(
      'flotilla_manager_tasks',
      'Tasks of the cluster by observed state (every manager reports its copy of the store).',
      ['state'],
      withManager((m, g) => {
        const counts = m.rs.store.taskCountsByState();
        for (const [state, label] of ALL_TASK_STATES) g.set({ state: label }, counts.get(state) ?? 0);
      }),
    );
    gauge(
      'flotilla_manager_services',
      'Services of the cluster.',
      [],
      withManager((m, g) => g.set(m.rs.store.count('service'))),
    );
    gauge(
      'flotilla_manager_services_by_update_state',
      "Services by the state of their last update or rollback ('none': never updated).",
      ['state'],
      withManager((m, g) => {
        for (const [state, n] of countServicesByUpdateState(m.rs.store.values('service'))) g.set({ state }, n);
      }),
    );
    const raftGauge = (name: string, help: string, read: (st: ReturnType<Manager['rs']['status']>) => number): Gauge =>
      gauge(name, help, [], withManager((m, g) => g.set(read(m.rs.status()))));
    raftGauge('flotilla_raft_term', "This manager's current Raft term.", (st) => st.term);
    raftGauge('flotilla_raft_commit_index', 'The highest Raft log index this manager knows committed.', (st) => st.commit);
    raftGauge('flotilla_raft_applied_index', 'The highest Raft log index applied to this manager\'s store.', (st) => st.applied);
    gauge(
      'flotilla_dispatcher_sessions',
      'Agent sessions open with this manager (the leader; 0 elsewhere).',
      [],
      withManager((m, g) => g.set(m.leaders.get<Dispatcher>('dispatcher')?.sessionCount ?? 0)),
    );

    // --- manager: hooks on the paths
    const proposals = counter('flotilla_raft_proposals_total', 'Proposals made on this manager.');
    const proposalsFailed = counter('flotilla_raft_proposals_failed_total', 'Proposals made on this manager that did not commit (not the leader, dropped, lost, timed out).');
    const commit = histogram('flotilla_raft_commit_duration_seconds', "From a proposal to its entry's commit on this manager.", LATENCY_BUCKETS);
    const apply = histogram('flotilla_raft_apply_duration_seconds', "Applying one committed entry to this manager's store.", APPLY_BUCKETS);
    const snapshot = histogram('flotilla_raft_snapshot_duration_seconds', 'Taking and writing a Raft snapshot (log compaction).', SLOW_BUCKETS);
    const storeWrite = histogram('flotilla_store_transaction_duration_seconds', "A store write transaction of this manager, from proposal to result.", LATENCY_BUCKETS);
    const heartbeats = counter('flotilla_dispatcher_heartbeats_total', 'Agent heartbeats received by this manager as leader.');
    const reports = counter('flotilla_dispatcher_status_reports_total', 'Task status reports received from agents.');
    const updates = counter('flotilla_dispatcher_status_updates_total', 'Task status updates in those reports.');
    const messages = counter('flotilla_dispatcher_assignment_messages_total', 'Assignment messages sent to agents.');
    const tasksSent = counter('flotilla_dispatcher_assignment_tasks_total', 'Tasks carried by those messages.');
    const statusTxs = counter('flotilla_dispatcher_status_transactions_total', 'Store transactions of task status changes proposed.');
    const statusActions = counter('flotilla_dispatcher_status_actions_total', 'Task status changes in those transactions.');
    this.manager = {
      raft: {
        proposed: () => proposals.inc(),
        proposalFailed: () => proposalsFailed.inc(),
        committed: (s) => commit.observe(s),
        applied: (s) => apply.observe(s),
        snapshot: (s) => snapshot.observe(s),
      },
      storeWrite: (s) => storeWrite.observe(s),
      dispatcher: {
        heartbeat: () => heartbeats.inc(),
        statusReport: (n) => {
          reports.inc();
          updates.inc(n);
        },
        assignmentsSent: (n, tasks) => {
          messages.inc(n);
          tasksSent.inc(tasks);
        },
        statusWritten: (txs, actions) => {
          statusTxs.inc(txs);
          statusActions.inc(actions);
        },
      },
    };
    this.schedulingDelay = histogram('flotilla_manager_scheduling_delay_seconds', "From a task's creation to its RUNNING status (observed by the leader).", SCHEDULING_BUCKETS);
    this.restarts = counter('flotilla_manager_task_restarts_total', "Tasks the restart policy decided to replace (counted by the leader).");

    // --- worker
    gauge('flotilla_worker_tasks', "This node's tasks by state.", ['state'], (g) => {
      const counts = sources.agent()?.taskCountsByState() ?? new Map<TaskState, number>();
      for (const [state, label] of ALL_TASK_STATES) g.set({ state: label }, counts.get(state) ?? 0);
    });
    const ends = counter('flotilla_worker_task_ends_total', "This node's tasks that reached an end state (failed and complete ones are what restart policies act on).", ['state']);
    this.agent = { taskEnded: (state) => ends.inc({ state: taskStateLabel(state) }) };
    const calls = histogram('flotilla_worker_executor_call_duration_seconds', 'Calls to the container engine, by operation.', SLOW_BUCKETS, ['operation']);
    const callErrors = counter('flotilla_worker_executor_call_errors_total', 'Calls to the container engine that failed, by operation.', ['operation']);
    this.executorCall = (operation, seconds, ok) => {
      calls.observe({ operation }, seconds);
      if (!ok) callErrors.inc({ operation });
    };
  }

  /**
   * Follow a manager's store while it leads: scheduling delays (a task reaching RUNNING) and restart decisions.
   * Returns the function that stops following (the manager stopped: demotion, shutdown).
   */
  followManager(m: Manager): () => void {
    let leading = m.rs.isLeader();
    const onRole = (role: Role): void => {
      leading = role === Role.Leader;
    };
    m.rs.raft.on('role-change', onRole);
    const unwatch = m.rs.store.watch({ kind: 'task', op: 'update' }, (ev) => {
      if (!leading || ev.kind !== 'task' || !ev.old) return;
      const delay = schedulingDelaySeconds(ev.old, ev.object);
      if (delay !== undefined) this.schedulingDelay.observe(delay);
      if (decidedRestart(ev.old, ev.object)) this.restarts.inc();
    });
    return () => {
      unwatch();
      m.rs.raft.off('role-change', onRole);
    };
  }

  /** The text exposition, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
