package io.razorstream.engine;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

/**
 * The engine's shape, checked on its compiled classes: no package depends on itself through others (every package is a
 * slice, the root package included: "(**)" captures it as "engine"), the engine stands alone (no Kafka, gRPC, RocksDB,
 * store or service code), and its core does not lean on the command line or the benchmarks.
 */
class ArchitectureTest {
    static final JavaClasses ENGINE = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("io.razorstream.engine");

    @Test
    void noPackageCycles() {
        slices().matching("io.razorstream.(**)").should().beFreeOfCycles().check(ENGINE);
    }

    @Test
    void theEngineImportsNoMessagingStoreOrService() {
        noClasses()
                .that()
                .resideInAPackage("io.razorstream.engine..")
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(
                        "org.apache.kafka..",
                        "io.grpc..",
                        "org.rocksdb..",
                        "io.razorstream.store..",
                        "io.razorstream.app..",
                        "io.razorstream.proto..")
                .check(ENGINE);
    }

    /**
     * The command line and the benchmarks sit on top of the core: a library user takes the core without them (picocli,
     * charts).
     */
    @Test
    void theCoreDependsOnNoCommandLineOrBenchmarkCode() {
        String[] tools = {"io.razorstream.engine.cli..", "io.razorstream.engine.bench.."};
        noClasses()
                .that()
                .resideOutsideOfPackages(tools)
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage(tools)
                .check(ENGINE);
        noClasses()
                .that()
                .resideOutsideOfPackages(tools)
                .should()
                .dependOnClassesThat()
                .resideInAnyPackage("picocli..", "org.knowm..")
                .check(ENGINE);
    }
}
