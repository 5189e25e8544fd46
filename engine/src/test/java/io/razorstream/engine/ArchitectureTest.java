package io.razorstream.engine;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * The engine's shape, checked on its compiled classes: no package depends on itself through others (every package is
 * a slice, the root package included: "(**)" captures it as "engine"), and the engine stands alone: no Kafka, gRPC, RocksDB, store or service code.
 */
class ArchitectureTest {
    static final JavaClasses ENGINE = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.razorstream.engine");

    @Test
    void noPackageCycles() {
        slices().matching("io.razorstream.(**)").should().beFreeOfCycles().check(ENGINE);
    }

    @Test
    void theEngineImportsNoMessagingStoreOrService() {
        noClasses().that().resideInAPackage("io.razorstream.engine..").should().dependOnClassesThat()
                .resideInAnyPackage("org.apache.kafka..", "io.grpc..", "org.rocksdb..", "io.razorstream.store..", "io.razorstream.app..",
                        "io.razorstream.proto..")
                .check(ENGINE);
    }
}
