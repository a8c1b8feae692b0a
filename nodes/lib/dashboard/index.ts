/** Data for dashboards: latest values per device, chart points per field, pipeline totals and rates. */
export { LatestValues, ChartPoints, type LatestOptions, type LatestRow, type ChartPoint } from './latest';
export { pipelineTotals, RateMeter, type PipelineTotals, type Rates } from './totals';
