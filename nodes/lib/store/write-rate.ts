/** Readings written per second over the last 10 seconds, counted in one slot per second (no list of timestamps). */
export class WriteRate {
  private readonly counts = new Array<number>(10).fill(0);
  private readonly seconds = new Array<number>(10).fill(-1);

  add(n: number): void {
    const sec = Math.floor(Date.now() / 1000);
    const i = sec % 10;
    if (this.seconds[i] !== sec) {
      this.seconds[i] = sec;
      this.counts[i] = 0;
    }
    this.counts[i] += n;
  }

  perSec(): number {
    const now = Math.floor(Date.now() / 1000);
    let n = 0;
    // The current second is still filling: the 10 seconds before it.
    for (let i = 0; i < 10; i++) if (this.seconds[i] < now && this.seconds[i] >= now - 10) n += this.counts[i];
    return n / 10;
  }
}
