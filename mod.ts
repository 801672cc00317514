/**
 * espline: flash and provision Espressif chips from TypeScript.
 *
 * This is the script-level API: connect to a board, then one method per job
 * — {@link Device.info}, {@link Device.flash} (the whole write job: build
 * settings, header patching, partition names, pre-flight checks, skip
 * unchanged, verify, resume after faults), {@link Device.verify},
 * {@link Device.read}, {@link Device.erase}, {@link Device.monitor} — and a
 * station that runs a job on many boards at once with a journal.
 *
 * ```ts
 * import { connect } from "./mod.ts";
 * await using dev = await connect("sim://esp32s3?mac=02:aa:bb:cc:dd:01", { baud: 921600 });
 * const info = await dev.info();
 * console.log(info.description, info.mac);
 * await dev.flash([{ address: 0x10000, data: new Uint8Array(4096) }]);
 * ```
 *
 * Lower layers (the loader session, transports, free functions over a
 * session, chip facts, image tools) are in `low_level.ts`
 * (`@espline/espline/low-level`).
 *
 * @module
 */

export {
  AbortedError,
  EsplineError,
  type EsplineErrorOptions,
  TimeoutError,
  TransportError,
  UsageError,
} from "./lib/errors.ts";
export {
  connect,
  Device,
  type DeviceInfo,
  type DeviceOptions,
  type InfoOptions,
} from "./lib/device/device.ts";
export {
  type After,
  AFTER_CHOICES,
  type Before,
  BEFORE_CHOICES,
  CHIP_CHOICES,
  type ChipName,
  type ConnectOptions,
} from "./lib/loader/connect_options.ts";
export {
  readResetConfig,
  type ReadResetConfigOptions,
  type ResetConfig,
} from "./lib/loader/reset.ts";
export type {
  CollateralCheckEvent,
  DeviceEvent,
  FlashedEvent,
  NoticeEvent,
  RecoveryEvent,
  RegionDoneEvent,
  RegionStartEvent,
} from "./lib/device/events.ts";
export type { LoaderEvent } from "./lib/loader/exchange.ts";
export type { FlashProgress } from "./lib/flash/progress.ts";
export type { ChipInfo, FlashInfo } from "./lib/loader/info.ts";
export {
  BoardChangedError,
  type BoardIdentity,
  IdentityUnstableError,
  MacCrcError,
} from "./lib/loader/identity.ts";
export type { MacCheckFailure } from "./lib/chips/types.ts";
export type { ChipRevision, FlashVoltage } from "./lib/chips/types.ts";
export {
  type Firmware,
  type FirmwareEntry,
  type FirmwareFile,
  type FirmwareRegion,
  type FirmwareSource,
  type FlashSettings,
  loadFirmware,
} from "./lib/device/firmware.ts";
export { loadManifest, type Manifest } from "./lib/image/manifest.ts";
export {
  FLASH_FREQ_CHOICES,
  FLASH_MODE_CHOICES,
  FLASH_SIZE_CHOICES,
  type FlashFreq,
  type FlashMode,
  type FlashSize,
} from "./lib/image/flash_params.ts";
export {
  type CancelledRegion,
  type FlashOptions,
  type FlashReport,
  PreflightError,
  type ResumeOptions,
  type VerifiedRegion,
  type VerifyOptions,
  type VerifyReport,
} from "./lib/device/flash_job.ts";
export type { EraseOptions, EraseReport, FlashArea, ReadOptions } from "./lib/device/flash_ops.ts";
export {
  CollateralDamageError,
  type CollateralPolicy,
  type CollateralReport,
  type FlashRange,
} from "./lib/device/collateral.ts";
export type { NvsWriteReport, WriteNvsOptions } from "./lib/device/nvs_write.ts";
export type { Partition } from "./lib/image/partition.ts";
export type { PreflightIssue } from "./lib/image/preflight.ts";
export {
  type FlashRegion,
  FlashVerifyError,
  type RegionReport,
  type WriteReport,
} from "./lib/flash/write.ts";
export {
  type DeviceOutcome,
  type OutcomeResult,
  runOne,
  runStation,
  type RunStationOptions,
  type RunSummary,
  type StationEvent,
  type StationFacts,
  type StationJob,
  type StationJournal,
  type StationNvsFacts,
  type StationNvsOptions,
  type StationRecord,
} from "./lib/station/runner.ts";
export {
  Dashboard,
  type DashboardLimits,
  type DashboardOptions,
  type DashboardSink,
  type DashboardSnapshot,
  type OnEventOptions,
  type PublishOptions,
  startDashboard,
} from "./lib/station/dashboard/server.ts";
export type {
  BoardResult,
  FailureEntry,
  ModelLimits,
  ShiftStats,
  StationEventLike,
  Tile,
  TileProgress,
  TileResult,
  TileState,
} from "./lib/station/dashboard/model.ts";
export type {
  DashboardJournal,
  DashboardRecord,
  JournalCounts,
  JournalRecordLike,
  JournalSearchOptions,
  MaybePromise,
  ReadableJournal,
} from "./lib/station/dashboard/journal_reader.ts";
export {
  type EventForwarder,
  forwardEvents,
  type ForwardEventsOptions,
} from "./lib/station/dashboard/forward.ts";
export {
  createStationView,
  describeOutcome,
  formatSummary,
  type StationViewOptions,
  type ViewSink,
} from "./lib/station/view.ts";
export { waitForDevice, type WaitForDeviceOptions } from "./lib/station/wait.ts";
export { listPorts, type ListPortsOptions } from "./lib/device/ports.ts";
export type { PortDescription, PortFilter } from "./lib/transport/ports.ts";
export type { PortInfo, SerialSignals, Transport } from "./lib/transport/transport.ts";
export {
  type DamagedValue,
  Journal,
  JournalEntry,
  type JournalEvent,
  type JournalFile,
  type JournalFilter,
  type JournalRecord,
  type JournalResult,
  type JournalSummary,
  openJournal,
  type OpenJournalOptions,
  type RecordFacts,
  type RecordInit,
  type SerialOptions,
} from "./lib/station/journal.ts";
export {
  type ExpectOptions,
  ExpectTimeoutError,
  Monitor,
  type MonitorLine,
  type MonitorOptions,
  stripAnsi,
} from "./lib/monitor/monitor.ts";
export {
  buildNvs,
  type BuildNvsOptions,
  type NvsData,
  type NvsTypedValue,
  type NvsValue,
} from "./lib/image/nvs_gen.ts";
export { loadNvsCsv, type LoadNvsCsvOptions, parseNvsCsv } from "./lib/image/nvs_csv.ts";
export { formatNvsReport, type NvsReport, parseNvs } from "./lib/image/nvs_parse.ts";
export {
  loadNvsTemplate,
  type LoadNvsTemplateOptions,
  type NvsBoard,
  type NvsFileSource,
  type NvsRowsOptions,
  NvsTemplate,
  nvsTemplate,
  type NvsTemplateEntry,
  type NvsTemplateKey,
  type NvsTemplateOptions,
  type NvsTemplateSpec,
  type NvsValueSource,
  parseNvsTemplate,
} from "./lib/image/nvs_template.ts";
export { NvsFormatError, NvsInputError } from "./lib/image/nvs_format.ts";
