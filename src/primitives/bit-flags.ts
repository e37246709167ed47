// Boolean properties kept as the bits of one number field: a class with ten flags pays one slot
// (8 bytes) per instance instead of ten. The accessors live on the prototype, so they cost nothing
// per instance, and the JIT inlines them like plain field reads.

/**
 * Defines `names` on `target`'s prototype as booleans stored in `this[field]` (bit i for names[i]).
 * The class declares them with `declare name: boolean` and initialises `field` to 0 (all false).
 */
export function defineBitFlags(target: { prototype: object }, field: string, names: readonly string[]): void {
  if (names.length > 31) throw new Error(`defineBitFlags: ${names.length} flags do not fit in one small integer`);
  names.forEach((name, i) => {
    const bit = 1 << i;
    Object.defineProperty(target.prototype, name, {
      get(this: Record<string, number>): boolean {
        return (this[field]! & bit) !== 0;
      },
      set(this: Record<string, number>, on: boolean) {
        this[field] = on ? this[field]! | bit : this[field]! & ~bit;
      },
      configurable: true,
    });
  });
}
