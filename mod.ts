/**
 * espline: flash and provision Espressif chips from TypeScript.
 *
 * ```ts
 * import { connect } from "./mod.ts";
 * await using dev = await connect("sim://esp32s3?mac=02:aa:bb:cc:dd:01", { baud: 921600 });
 * const info = await dev.info();
 * console.log(info.description, info.mac);
 * await dev.writeFlash([{ address: 0x10000, data: new Uint8Array(4096) }]);
 * ```
 *
 * @module
 */

export * from "./lib/errors.ts";
export {
  connect,
  type ConnectOptions,
  Device,
  type DeviceEvent,
  type DeviceInfo,
} from "./lib/device/device.ts";
export {
  type Firmware,
  type FirmwareEntry,
  firmwareFromBytes,
  loadFirmware,
} from "./lib/device/firmware.ts";
export {
  type DeviceOutcome,
  runOne,
  runStation,
  type RunStationOptions,
  type RunSummary,
  type StationEvent,
  type StationJob,
  type StationJournal,
  type StationRecord,
} from "./lib/station/runner.ts";
export {
  type ExpectOptions,
  ExpectTimeoutError,
  Monitor,
  type MonitorLine,
  type MonitorOptions,
  openMonitor,
  resetIntoApp,
  stripAnsi,
} from "./lib/monitor/monitor.ts";
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
export { listSerialDevices, waitForDevice, type WaitForDeviceOptions } from "./lib/station/wait.ts";
export {
  isRecoverable,
  type RecoveryEvent,
  type ResilientWriteOptions,
  type ResilientWriteReport,
  writeFlashResilient,
} from "./lib/station/recovery.ts";
export {
  checkRegions,
  type FlashRegion,
  FlashVerifyError,
  type RegionReport,
  verifyFlash,
  type VerifyReport,
  writeFlash,
  type WriteFlashOptions,
  type WriteReport,
} from "./lib/flash/write.ts";
export { readFlash, type ReadFlashOptions } from "./lib/flash/read.ts";
export { eraseFlash, type EraseOptions, eraseRegion } from "./lib/flash/erase.ts";
export { detectFlashSize, flashMd5, type FlashProgress } from "./lib/flash/common.ts";
export {
  type CommandOptions,
  type CommandResult,
  type ConnectOptions as LoaderConnectOptions,
  type LoaderEvent,
  LoaderSession,
  type ResetStrategy,
  type SecurityInfo,
} from "./lib/loader/session.ts";
export { closeSession, openSession, type OpenSessionOptions } from "./lib/loader/open_session.ts";
export { type ChipInfo, type FlashInfo, readChipInfo, readFlashInfo } from "./lib/loader/info.ts";
export {
  chipByImageId,
  chipByKey,
  chipByMagic,
  type ChipFamily,
  type ChipRevision,
  CHIPS,
  flashSizeFromJedec,
  formatFlashSize,
  formatMac,
  type MemoryRegion,
  type ReadReg,
  type SpiRegisters,
} from "./lib/chips/index.ts";
export { openTransport, type OpenTransportOptions } from "./lib/transport/open.ts";
export type { PortInfo, SerialSignals, Transport } from "./lib/transport/transport.ts";
export {
  formatImageInfo,
  ImageFormatError,
  type ImageInfo,
  type ImageSegment,
  parseImage,
} from "./lib/image/image.ts";
export { mergeBin, type MergeOptions, UF2_FAMILY_IDS } from "./lib/image/merge.ts";
export {
  findPartition,
  formatPartitionTable,
  parsePartitionCsv,
  parsePartitionTable,
  type Partition,
  PARTITION_TABLE_OFFSET,
  PartitionTableError,
  partitionTableToBinary,
  partitionTableToCsv,
} from "./lib/image/partition.ts";
export { loadManifest, type Manifest } from "./lib/image/manifest.ts";
export { preflight, type PreflightIssue } from "./lib/image/preflight.ts";
export { type FlashParams, patchFlashParams, type PatchResult } from "./lib/flash/flash_params.ts";
export { runCli, type RunCliOptions } from "./lib/cli/main.ts";
export type { OutputSinks } from "./lib/cli/output.ts";
