// What a migration may need to know about the database it runs on: capabilities, not the
// database's name, so a migration file never tests which database it is.
import type { ColumnDefinitionBuilder } from 'kysely';

export interface MigrationDialect {
  /**
   * A primary key the database numbers itself, in insertion order (the outbox's event ids): its
   * column type and what makes it generated.
   */
  readonly generated_key: {
    readonly type: 'integer' | 'bigint';
    readonly define: (column: ColumnDefinitionBuilder) => ColumnDefinitionBuilder;
  };
}
