// The worker role: the agent, the executor interface (exec/) and its Docker implementation (exec/docker/).
export { Agent, type AgentOptions, type AgentStats } from './agent.js';
export { DockerExecutor, type DockerExecutorOptions, type DockerExecutorStats } from './exec/docker/docker-executor.js';
export { ImagePuller, type ImagePullerOptions, type ImagePullerStats } from './exec/docker/image-puller.js';
export { connectEngine, engineEndpoint, pingEngine, type EngineOptions, type EnginePing } from './exec/docker/engine.js';
export * from './exec/executor.js';
export * from './exec/docker/labels.js';
export { describeNode } from './exec/docker/node-description.js';
export { HeldFiles, MissingFileError, type AssignedFiles } from './files.js';
export { StatusBatcher, type StatusReporter, type StatusUpdate, type StatusBatcherOptions } from './status-batcher.js';
