/**
 * espline's lower layers, for tools of your own: the loader session and its
 * commands, the free flash operations over a session, byte transports
 * (serial, TCP, RFC 2217, Web Serial, the virtual chip's ports), reset
 * strategies, chip facts, and host-side image tools (image parsing and
 * building, merge, partition tables, header flash parameters, pre-flight).
 *
 * It re-exports everything `mod.ts` has, so one import serves a tool. A
 * script that flashes and provisions boards needs `mod.ts` only; reach for
 * these when the Device-level operations do not cover what you do.
 *
 * ```ts
 * import { connect } from "./mod.ts";
 * import { flashMd5, sessionOf } from "./low_level.ts";
 * await using dev = await connect("sim://esp32c3");
 * console.log(await flashMd5(sessionOf(dev), { address: 0x10000, size: 0x1000 }));
 * ```
 *
 * @module
 */

// Everything of the script level, so one import serves a tool.
export * from "./mod.ts";
export { sessionOf } from "./lib/device/device.ts";
export { isRecoverable } from "./lib/device/flash_job.ts";
export { parseAddress, parseIntArg } from "./lib/device/numbers.ts";
export { normalizeFlashSettings, parseFirmwareArg, readInputFile } from "./lib/device/firmware.ts";
export {
  type CommandOptions,
  type CommandResult,
  type FrameVerdict,
  type LoaderConnectOptions,
  type LoaderEvent,
  LoaderSession,
  type RetryOptions,
  ROM_BAUD,
  type SecurityInfo,
} from "./lib/loader/session.ts";
export { DEFAULT_COMMAND_TIMEOUT_MS } from "./lib/loader/exchange.ts";
export { RAM_BLOCK_SIZE, type UploadStubOptions } from "./lib/loader/stub_upload.ts";
export {
  closeSession,
  type CloseSessionOptions,
  openSession,
  type OpenSessionOptions,
  setupSession,
  watchdogReset,
} from "./lib/loader/open_session.ts";
export {
  normalizeConnectOptions,
  type NormalizedConnectOptions,
  parseAfter,
  parseBefore,
  parseChip,
} from "./lib/loader/connect_options.ts";
export {
  classicReset,
  connectStrategies,
  type ConnectStrategiesOptions,
  customReset,
  hardReset,
  // The monitor's former name for the same hard reset, kept for existing scripts.
  hardReset as resetIntoApp,
  type HardResetOptions,
  type HardResetOptions as ResetIntoAppOptions,
  hardResetStrategy,
  isNoModemLines,
  type ResetHooks,
  type ResetStrategy,
  unixTightReset,
  usbJtagSerialReset,
} from "./lib/loader/reset.ts";
export { type LoaderCapabilities, loaderCapabilities } from "./lib/loader/capabilities.ts";
export { readChipInfo, type ReadChipInfoOptions, readFlashInfo } from "./lib/loader/info.ts";
export {
  confirmedReader,
  IDENTITY_MAX_READS,
  readConfirmed,
  type ReadConfirmedOptions,
  readIdentity,
  readRevisionConfirmed,
  sameBoard,
} from "./lib/loader/identity.ts";
export {
  checkRegions,
  type RegionPosition,
  type RegionStart,
  verifyFlash,
  type VerifyReport as RegionsVerifyReport,
  writeFlash,
  type WriteFlashOptions,
} from "./lib/flash/write.ts";
export { readFlash, type ReadFlashOptions } from "./lib/flash/read.ts";
export {
  checkEraseRegion,
  eraseFlash,
  type EraseOptions as EraseFlashOptions,
  eraseRegion,
} from "./lib/flash/erase.ts";
export { flashMd5, type FlashSpan } from "./lib/flash/md5.ts";
export { detectFlashSize } from "./lib/flash/flash_size.ts";
export {
  chipByImageId,
  chipByKey,
  chipByMagic,
  type ChipFamily,
  CHIPS,
  flashSizeFromJedec,
  formatFlashSize,
  formatMac,
  type ImageFormatFacts,
  type MacCheckFailure,
  type MemoryRegion,
  type ReadReg,
  type RomLoaderFacts,
  type SpiRegisters,
} from "./lib/chips/index.ts";
export { openTransport, type OpenTransportOptions } from "./lib/transport/open.ts";
export { matchesFilter, parsePortFilter } from "./lib/transport/ports.ts";
export {
  type ToWebSerialOptions,
  toWebSerialPort,
  type WebSerialOptions,
  type WebSerialOutputSignals,
  WebSerialPort,
  type WebSerialPortInfo,
} from "./lib/transport/webserial.ts";
export { openMonitor } from "./lib/monitor/monitor.ts";
export {
  formatImageInfo,
  ImageFormatError,
  type ImageInfo,
  type ImageSegment,
  parseImage,
} from "./lib/image/image.ts";
export {
  appDescriptor,
  type AppDescriptorOptions,
  type ImageSegmentInput,
  makeImage,
  type MakeImageOptions,
} from "./lib/image/make_image.ts";
export { intelHex, mergeBin, type MergeOptions, UF2_FAMILY_IDS } from "./lib/image/merge.ts";
export {
  findPartition,
  formatPartitionTable,
  parsePartitionCsv,
  parsePartitionTable,
  type Partition,
  PARTITION_TABLE_MAX,
  PARTITION_TABLE_OFFSET,
  PartitionTableError,
  partitionTableToBinary,
  partitionTableToCsv,
} from "./lib/image/partition.ts";
export {
  flashParamChoices,
  type FlashParams,
  IMAGE_MAGIC,
  patchFlashParams,
  type PatchResult,
} from "./lib/image/flash_params.ts";
export { preflight } from "./lib/image/preflight.ts";
export {
  NVS_ENCODINGS,
  type NvsEncoding,
  type NvsLayout,
  nvsLayout,
  nvsRowsFromData,
  parseNvsSize,
} from "./lib/image/nvs_gen.ts";
export {
  type NvsDataRow,
  type NvsFileRow,
  type NvsNamespaceRow,
  type NvsRow,
  type NvsRowType,
  type NvsScalar,
  type ParseNvsCsvOptions,
} from "./lib/image/nvs_csv.ts";
export {
  formatNvsValue,
  type NvsErasedEntry,
  type NvsItem,
  type NvsItemType,
  type NvsItemValue,
  type NvsPageInfo,
  type NvsPageState,
  type NvsProblem,
  type NvsProblemKind,
  nvsReportToJson,
} from "./lib/image/nvs_parse.ts";
export type { NvsIntegerType } from "./lib/image/nvs_format.ts";
