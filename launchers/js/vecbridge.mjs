// ESM entry of the vecbridge JavaScript game client: the same code as vecbridge.js.
//   import vecbridge from "<launchers>/js/vecbridge.mjs";
//   import { serve } from "<launchers>/js/vecbridge.mjs";
import { createRequire } from 'node:module';

const vecbridge = createRequire(import.meta.url)('./vecbridge.js');

export default vecbridge;
export const {
  PROTOCOL_VERSION, serve, connectParams, gameConfig, ndarray, NDArray, parseSpace, parseTypeString,
  describeSpace, encodeMessage, decodeMessage, encodeSpaceValue, decodeSpaceValue, floatToHalf, halfToFloat,
} = vecbridge;
