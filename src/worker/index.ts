// The worker role: the agent, the executor interface and its Docker implementation.
export { Agent, type AgentOptions, type AgentStats } from './agent.js';
export { DockerExecutor, type DockerExecutorOptions, type DockerExecutorStats } from './docker-executor.js';
export { ImagePuller, type ImagePullerOptions, type ImagePullerStats } from './image-puller.js';
export { connectEngine, engineEndpoint, pingEngine, type EngineOptions, type EnginePing } from './engine.js';
export * from './executor.js';
export * from './labels.js';
export { describeNode } from './node-description.js';
export { StatusBatcher, type StatusReporter, type StatusUpdate, type StatusBatcherOptions } from './status-batcher.js';
